// One writer per run directory: a second `mtx train` (new or --resume) into a directory another process is
// writing gets exit 2 naming the holder, the first run's logs stay whole, readers need no lock, a lock left
// by a dead process is taken over, and a resume refuses changes to what defines the run.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mtx, mtxAsync, ROOT, tempDir, tinyConfig } from "../helpers/cli.js";
import { readJsonl } from "../helpers/trainer.js";

const BLOCK = join(ROOT, "test", "fixtures", "plugins", "block-at.js");

async function until(cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A run that stops at the end of `step` until the test creates the release file. */
function blockedRun(dir: string, step: number, extra: Record<string, unknown> = {}) {
  const marker = join(dir, "at-step");
  const release = join(dir, "release");
  const config = join(dir, "config.json");
  writeFileSync(config, JSON.stringify(tinyConfig({ steps: 6, checkpoint: { every: 2, keepLast: 5 }, plugins: [{ name: BLOCK, options: { step, marker, release } }], ...extra })));
  return { config, marker, release };
}

describe("the run directory lock", () => {
  it("a second writer, new or resuming, gets exit 2 naming the holder; the first run's logs stay whole", async () => {
    const dir = tempDir();
    const out = join(dir, "run");
    const { config, marker, release } = blockedRun(dir, 3);
    const first = mtxAsync(["train", "--config", config, "--out", out]);
    await until(() => existsSync(marker));
    const pid = Number(readFileSync(marker, "utf8"));
    const lock = JSON.parse(readFileSync(join(out, ".mtx.lock"), "utf8"));
    expect(lock).toMatchObject({ pid, host: hostname() });

    const second = mtx(["train", "--config", config, "--out", out, "--seed", "99"]);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(new RegExp(`run directory .*run is in use by pid ${pid} on ${hostname()}`));
    expect(second.stderr).not.toMatch(/run report/); // a refused writer writes nothing into the holder's directory
    expect(existsSync(join(out, "report.html"))).toBe(false);
    expect(existsSync(`${out}.prev-1`)).toBe(false); // the running run was not moved aside
    const resume = mtx(["train", "--out", out, "--resume"]);
    expect(resume.code).toBe(2);
    expect(resume.stderr).toMatch(new RegExp(`in use by pid ${pid}`));
    // Readers take no lock: the report of the run in progress is written.
    const report = mtx(["report", out, "--out", join(dir, "live.html")]);
    expect(report.code, report.stderr).toBe(0);

    writeFileSync(release, "");
    const done = await first.done;
    expect(done.code, done.stderr).toBe(0);
    const steps = readJsonl<{ step: number }>(join(out, "metrics.jsonl")).map((m) => m.step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
    expect(existsSync(join(out, ".mtx.lock"))).toBe(false); // released at the end
  });

  it("a lock left by a dead process is taken over; one from another host is refused with the fix", () => {
    const dir = tempDir();
    const out = join(dir, "run");
    const config = join(dir, "c.json");
    writeFileSync(config, JSON.stringify(tinyConfig({ steps: 2, checkpoint: { every: 2, keepLast: 2 } })));
    expect(mtx(["train", "--config", config, "--out", out]).code).toBe(0);
    // A pid that is certainly dead: a child that has exited.
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
    writeFileSync(join(out, ".mtx.lock"), JSON.stringify({ pid: Number(dead), host: hostname(), started: "2026-01-01T00:00:00Z", command: "mtx train" }));
    const resumed = mtx(["train", "--config", config, "--out", out, "--resume", "--steps", "4"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(existsSync(join(out, ".mtx.lock"))).toBe(false);

    writeFileSync(join(out, ".mtx.lock"), JSON.stringify({ pid: 1, host: "another-host", started: "2026-01-01T00:00:00Z", command: "mtx train" }));
    const foreign = mtx(["train", "--config", config, "--out", out, "--resume", "--steps", "6"]);
    expect(foreign.code).toBe(2);
    expect(foreign.stderr).toMatch(/in use by pid 1 on another-host .*if that run is no longer going, remove .*\.mtx\.lock/);
  });
});

describe("--resume keeps what defines the run", () => {
  it("refuses a new model, context, seed or recipe naming the field and both values; allows and records steps", () => {
    const dir = tempDir();
    const out = join(dir, "run");
    const config = join(dir, "c.json");
    writeFileSync(config, JSON.stringify(tinyConfig({ steps: 4, checkpoint: { every: 2, keepLast: 3 } })));
    expect(mtx(["train", "--config", config, "--out", out]).code).toBe(0);
    const before = readFileSync(join(out, "config.json"), "utf8");

    const context = mtx(["train", "--out", out, "--resume", "--context", "64", "--steps", "6"]);
    expect(context.code).toBe(2);
    expect(context.stderr).toMatch(/--resume cannot change what defines the run/);
    expect(context.stderr).toMatch(/context\.length: the run has \(unset\), this resume gives 64/);
    const seed = mtx(["train", "--out", out, "--resume", "--seed", "8"]);
    expect(seed.code).toBe(2);
    expect(seed.stderr).toMatch(/seed: the run has 7, this resume gives 8/);
    const other = join(dir, "other.json");
    writeFileSync(other, JSON.stringify({ model: { dModel: 64, nHeads: 4 }, data: { recipe: "general" } }));
    const model = mtx(["train", "--out", out, "--resume", "--config", other]);
    expect(model.code).toBe(2);
    expect(model.stderr).toMatch(/model\.dModel: the run has 32, this resume gives 64/);
    expect(model.stderr).toMatch(/model\.nHeads: the run has 2, this resume gives 4/);
    expect(model.stderr).toMatch(/data\.recipe: the run has ".*tiny-recipe\.json", this resume gives "general"/);
    expect(readFileSync(join(out, "config.json"), "utf8")).toBe(before); // nothing rewritten

    const longer = mtx(["train", "--out", out, "--resume", "--steps", "6"]);
    expect(longer.code, longer.stderr).toBe(0);
    const change = readJsonl<{ action: string; evidence: { changes: { field: string; before: unknown; after: unknown }[] } }>(join(out, "decisions.jsonl")).find((d) => d.action === "config-change");
    expect(change?.evidence.changes).toEqual([{ field: "steps", before: 4, after: 6 }]);
    expect(JSON.parse(readFileSync(join(out, "config.json"), "utf8")).steps).toBe(6);
  });
});
