// mtx gate and mtx probe: the bundled base passes against itself (exit 0); the same weights with noise fail
// (exit 1) on a test suite and on the bundled smoke and ci suites, with a JUnit file naming the failing
// probes and carrying times and standard errors; a truncated checkpoint is exit 2; a gate on a metric no
// probe produces is exit 2 before anything runs; relative gates without a baseline say "not applied"; a
// custom probe (mtx probes init) runs from a suite file. Probe results are deterministic.
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
      if (!/\.(wq|wk|wv|wo|w1|w2|gate|up|down)$/.test(name)) continue;
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
    expect(xml).toMatch(/<testcase classname="heldout" name="bpb &lt;= baseline x 1.02" time="\d+\.\d{3}">\n {6}<failure message="bpb /);
    expect(xml).toMatch(/<property name="bpb.stderr" value="0\.\d+"\/>/);
    expect(xml).toMatch(/<testsuite name="generation" tests="1" failures="0"/);
    const report = JSON.parse(readFileSync(json, "utf8"));
    expect(report.pass).toBe(false);
  });

  it("the bundled smoke and ci suites fail the noisy weights (exit 1) and pass the base against itself", () => {
    for (const s of ["smoke", "ci"]) {
      const r = mtx(["probe", "--suite", s, "--checkpoint", noisy, "--baseline", "bundled", "--json"]);
      expect(r.code, `${s}: ${r.stderr}`).toBe(1);
      const report = JSON.parse(r.stdout) as { pass: boolean; probes: { id: string; gates: { status: string }[] }[] };
      expect(report.pass).toBe(false);
      expect(report.probes.find((p) => p.id === "heldout")!.gates[0]!.status, s).toBe("fail");
    }
    const same = mtx(["gate", "--suite", "smoke", "--checkpoint", "bundled", "--baseline", BASE]);
    expect(same.code, same.stderr).toBe(0);
  });

  it("says a relative gate without a baseline was not applied, rather than ok", () => {
    const r = mtx(["probe", "--suite", suite, "--checkpoint", "bundled", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { probes: { id: string; gates: { metric: string; status: string }[] }[] };
    expect(report.probes[0]!.gates.map((g) => g.status)).toEqual(["not-applied", "not-applied"]);
    expect(report.probes[1]!.gates.map((g) => g.status)).toEqual(["pass"]);
    expect(mtx(["probe", "--suite", suite, "--checkpoint", "bundled"]).stdout).toMatch(/not applied \(no baseline\): heldout: bpb, heldout: bpb\.sotu/);
  });

  it("refuses a gate on a metric its probe does not produce, before running anything", () => {
    const bad = join(dir, "bad-metric.json");
    writeFileSync(bad, JSON.stringify({ name: "bad", probes: [{ probe: "heldout", gates: [{ metric: "bpb.sotuu", maxRelative: 0.02 }] }] }));
    const t0 = Date.now();
    const r = mtx(["probe", "--suite", bad, "--checkpoint", "bundled"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/reads metric 'bpb\.sotuu', which the probe does not produce/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it("runs a custom probe scaffolded by mtx probes init from its suite file, with standard errors", () => {
    const init = mtx(["probes", "init", "cloze", "--dir", join(dir, "custom")]);
    expect(init.code, init.stderr).toBe(0);
    const r = mtx(["gate", "--suite", join(dir, "custom", "cloze.suite.json"), "--checkpoint", "bundled", "--baseline", "bundled", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const p = (JSON.parse(r.stdout) as { probes: { probe: string; metrics: Record<string, number>; stderr: Record<string, number>; n: number }[] }).probes[0]!;
    expect(p.probe).toBe("./cloze.js");
    expect(p.n).toBe(8);
    expect(p.metrics.accuracy).toBeGreaterThanOrEqual(0);
    expect(p.stderr.accuracy).toBeGreaterThan(0);
    expect(Object.keys(p.metrics)).toEqual(["accuracy", "margin"]);
  });

  it("a probe that crashes fails the suite as a JUnit error naming its message (exit 4, or 1 when a gate also failed); the other probes still report", () => {
    const probe = join(dir, "crash.js");
    writeFileSync(probe, `export default { name: "crash", metrics: () => ["x"], async run() { throw new Error("the items file is empty"); } };\n`);
    const s = join(dir, "crash.suite.json");
    writeFileSync(s, JSON.stringify({ name: "crash", probes: [{ probe: "./crash.js", gates: [{ metric: "x", min: 0 }] }, { probe: "generation", params: { prompts: 1, maxTokens: 4 } }] }));
    const junit = join(dir, "crash.xml");
    const r = mtx(["probe", "--suite", s, "--checkpoint", "bundled", "--junit", junit, "--json"]);
    expect(r.code, r.stderr).toBe(4);
    const report = JSON.parse(r.stdout) as { pass: boolean; probes: { id: string; status: string; error?: string; n: number }[] };
    expect(report.pass).toBe(false);
    expect(report.probes.map((p) => p.status)).toEqual(["error", "ok"]);
    expect(report.probes[0]!.error).toMatch(/the items file is empty/);
    expect(report.probes[1]!.n).toBeGreaterThan(0);
    const xml = readFileSync(junit, "utf8");
    expect(xml).toMatch(/<testsuite name="\.\/crash\.js" tests="1" failures="0" errors="1"/);
    expect(xml).toMatch(/<error message="[^"]*the items file is empty/);
    const failing = join(dir, "crash-and-fail.suite.json");
    writeFileSync(failing, JSON.stringify({ name: "crash", probes: [{ probe: "./crash.js" }, { probe: "generation", params: { prompts: 1, maxTokens: 4 }, gates: [{ metric: "meanLength", min: 5 }] }] }));
    expect(mtx(["probe", "--suite", failing, "--checkpoint", "bundled"]).code).toBe(1);
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
