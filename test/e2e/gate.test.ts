// mtx gate: the bundled base passes against itself (exit 0); the same weights with noise fail (exit 1)
// with a JUnit file naming the failing probes; a truncated checkpoint is exit 2. Probe results are
// deterministic for a checkpoint and seed.
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadCheckpoint, saveCheckpoint } from "../../core/checkpoint/Checkpoint.js";
import { createRng } from "../../core/rng.js";
import { mtx, ROOT, tempDir } from "../helpers/cli.js";

const BASE = join(ROOT, "fixtures", "base");

describe("mtx gate and mtx probe", () => {
  let dir = "";
  let suite = "";
  let noisy = "";
  beforeAll(() => {
    dir = tempDir();
    suite = join(dir, "suite.json");
    writeFileSync(
      suite,
      JSON.stringify({
        name: "test-gate",
        probes: [
          { probe: "heldout", params: { sequencesPerSource: 4 }, gates: [{ metric: "bpb", maxRelative: 0.02 }, { metric: "bpb.sotu", maxRelative: 0.03 }] },
          { probe: "generation", params: { prompts: 2, maxTokens: 16 }, gates: [{ metric: "repetitionRate", max: 0.9 }] },
        ],
      }),
    );
    // The base's weights with Gaussian noise as large as each matrix's RMS (+8% bits per byte).
    const c = loadCheckpoint(BASE);
    const rng = createRng(1, "noise");
    for (const [name, w] of c.weights) {
      if (!/\.(wq|wk|wv|wo|w1|w2)$/.test(name)) continue;
      const rms = Math.sqrt(w.reduce((a, x) => a + x * x, 0) / w.length);
      for (let i = 0; i < w.length; i++) w[i]! += rms * rng.normal();
    }
    noisy = saveCheckpoint(join(dir, "noisy"), { ...c, optimizer: undefined });
  });

  it("the base passes against itself: exit 0", () => {
    const r = mtx(["gate", "--suite", suite, "--checkpoint", "bundled", "--baseline", "bundled", "--workers", "2"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/all gates passed/);
  });

  it("noisy weights fail with exit 1 and a JUnit file naming the failing probe", () => {
    const junit = join(dir, "junit.xml");
    const json = join(dir, "report.json");
    const r = mtx(["gate", "--suite", suite, "--checkpoint", noisy, "--baseline", "bundled", "--junit", junit, "--json-out", json]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAILED gates:\n {2}heldout: bpb \d+\.\d+ is \d+\.\d+% above the baseline/);
    const xml = readFileSync(junit, "utf8");
    expect(xml).toMatch(/<testsuite name="heldout" tests="2" failures="[12]"/);
    expect(xml).toMatch(/<testcase classname="heldout" name="bpb &lt;= baseline x 1.02">\n {6}<failure message="bpb /);
    expect(xml).toMatch(/<testsuite name="generation" tests="1" failures="0"/);
    const report = JSON.parse(readFileSync(json, "utf8"));
    expect(report.pass).toBe(false);
  });

  it("a truncated checkpoint is exit 2 with the file named", () => {
    const broken = saveCheckpoint(join(dir, "broken"), { ...loadCheckpoint(BASE), optimizer: undefined });
    truncateSync(join(broken, "model.safetensors"), 1000);
    const r = mtx(["gate", "--suite", suite, "--checkpoint", broken, "--baseline", "bundled"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/model\.safetensors: 1000 bytes where the manifest records/);
    expect(mtx(["gate", "--suite", "nope", "--checkpoint", "bundled", "--baseline", "bundled"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/suite 'nope' not found/) });
  });

  it("gives identical results for the same checkpoint and seed", () => {
    const a = join(dir, "a.json");
    const b = join(dir, "b.json");
    expect(mtx(["probe", "--suite", "smoke", "--checkpoint", "bundled", "--json-out", a, "--workers", "1"]).code).toBe(0);
    expect(mtx(["probe", "--suite", "smoke", "--checkpoint", "bundled", "--json-out", b, "--workers", "2"]).code).toBe(0);
    const metrics = (f: string) => JSON.parse(readFileSync(f, "utf8")).probes.map((p: { id: string; metrics: unknown; details: unknown }) => [p.id, p.metrics, p.details]);
    expect(metrics(b)).toEqual(metrics(a));
  });
});
