// In-training probes run in a worker on a snapshot, land at a fixed step, are logged, and a failed gate
// becomes a verdict.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { longctxPlugin } from "../../plugins/guardrails/longctx.js";
import { ProbesPlugin } from "../../plugins/guardrails/probes.js";
import { mtx, tempDir, tinyConfig } from "../helpers/cli.js";
import { readJsonl, tinyRun } from "../helpers/trainer.js";

const heldout = { probe: "heldout", params: { sequencesPerSource: 2, recipe: "test/fixtures/tiny-recipe.json" } };

describe("probes plugin", () => {
  it("measures every N steps off the step loop, acts at snapshot step + lag, and logs at the step measured", async () => {
    const { summary, metrics } = await tinyRun({ steps: 25 }, [new ProbesPlugin({ every: 10, lag: 2, action: "halt", probes: [{ ...heldout, gates: [{ metric: "bpb", maxRelative: 0.5 }] }] })]);
    expect(summary.status).toBe("completed");
    const logged = metrics.filter((m) => "probe.heldout.bpb" in m) as unknown as ({ step: number } & Record<string, number>)[];
    expect(logged.map((m) => m.step)).toEqual([10, 20]);
    expect(logged.map((m) => (m.arrivedAt as unknown as Record<string, number>)["probe.heldout.bpb"])).toEqual([12, 22]);
    expect(logged[1]!["probe.heldout.bpb"]).toBeLessThan(logged[0]!["probe.heldout.bpb"]!); // the tiny model is learning
  });

  it("turns a failed gate into a halt verdict with the probe's evidence", async () => {
    const { summary } = await tinyRun({ steps: 30 }, [new ProbesPlugin({ every: 10, lag: 3, action: "halt", probes: [{ ...heldout, gates: [{ metric: "bpb", max: 0.5 }] }] })]);
    expect(summary).toMatchObject({ status: "halted", exitCode: 3, endStep: 13, halt: { plugin: "probes" } });
    expect(summary.halt!.reason).toMatch(/probe regression measured at step 10: heldout: bpb \d+\.\d+ is above the ceiling 0.5/);
  });
});

/** A custom probe: the mean loss of one fixed token sequence, and how many tokens it scored. */
const CUSTOM_PROBE = `export default {
  name: "fixed-loss",
  description: "mean loss of one fixed token sequence",
  metrics: () => ["loss", "tokens"],
  async run({ model }) {
    const ids = Array.from({ length: 17 }, (_, i) => (i * 37) % 200 + 3);
    const loss = await model.tokenLoss({ inputs: Int32Array.from(ids.slice(0, -1)), targets: Int32Array.from(ids.slice(1)), size: 1, seqLen: 16 });
    return { metrics: { loss: loss.reduce((a, b) => a + b, 0) / loss.length, tokens: loss.length }, n: 1 };
  },
};
`;

describe("longctx", () => {
  it("measures loss by position at 2x the context and the needle grid at 1x and 2x, logged at the step measured", async () => {
    const plugin = longctxPlugin.create({ every: 4, lag: 1, action: "halt", contextLength: 48 });
    const { config, summary, metrics } = await tinyRun({ steps: 6, model: { dModel: 32, nLayers: 2, nHeads: 2, contextLength: 48 } }, [plugin]);
    expect(summary.status).toBe("completed");
    const records = readJsonl<{ step: number; probe: string; plugin: string; metrics: Record<string, number> }>(join(config.out, "probes.jsonl"));
    expect(records.map((r) => [r.step, r.probe, r.plugin])).toEqual([[0, "position-loss", "longctx"], [0, "needle", "longctx"], [4, "position-loss", "longctx"], [4, "needle", "longctx"]]);
    const needle = records[3]!.metrics;
    expect(Object.keys(needle)).toEqual(["accuracy", "accuracy.len48", "meanRank.len48", "accuracy.len96", "meanRank.len96"]);
    for (const k of ["accuracy", "accuracy.len48", "accuracy.len96"]) expect(needle[k]).toBeGreaterThanOrEqual(0), expect(needle[k]).toBeLessThanOrEqual(1);
    const buckets = Object.keys(records[2]!.metrics).filter((k) => k.startsWith("loss.pos"));
    expect(buckets.length).toBeGreaterThan(1);
    expect(buckets.map((k) => Number(k.slice("loss.pos".length))).at(-1)).toBeLessThan(96); // buckets span 2x the context of 48
    expect(buckets.map((k) => Number(k.slice("loss.pos".length))).at(-1)).toBeGreaterThanOrEqual(48);
    const logged = metrics.find((m) => "probe.needle.accuracy.len48" in m) as unknown as Record<string, number>;
    expect(logged.step).toBe(4);
    expect(logged["probe.needle.accuracy.len48"]).toBe(needle["accuracy.len48"]);
  });
});

describe("probes plugin with a custom probe file", () => {
  /** A config in its own folder naming `./fixed-loss.js` beside it, run from another working directory. */
  function customRun(gates: object[]) {
    const dir = tempDir();
    writeFileSync(join(dir, "fixed-loss.js"), CUSTOM_PROBE);
    const config = join(dir, "config.json");
    writeFileSync(config, JSON.stringify(tinyConfig({ steps: 6, plugins: [{ name: "probes", options: { every: 2, lag: 1, probes: [{ probe: "./fixed-loss.js", gates }] } }] })));
    const cwd = join(dir, "elsewhere");
    mkdirSync(cwd);
    const r = mtx(["train", "--config", config, "--out", "run"], { cwd });
    return { r, run: join(cwd, "run") };
  }

  it("resolves the file beside the config, runs it in the probe workers and logs it under its own name", () => {
    const { r, run } = customRun([{ metric: "loss", maxRelative: 0.5 }]);
    expect(r.code, r.stderr).toBe(0);
    const records = readFileSync(join(run, "probes.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number; probe: string; metrics: Record<string, number> });
    expect(records.map((x) => [x.step, x.probe])).toEqual([[0, "fixed-loss"], [2, "fixed-loss"], [4, "fixed-loss"]]);
    for (const x of records) expect(x.metrics.tokens).toBe(16);
    expect(records[2]!.metrics.loss).not.toBe(records[0]!.metrics.loss); // measured on the weights of its step
    const logged = readFileSync(join(run, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>).filter((m) => "probe.fixed-loss.loss" in m);
    expect(logged.map((m) => [m.step, m["probe.fixed-loss.loss"]])).toEqual(records.slice(1).map((x) => [x.step, x.metrics.loss]));
  });

  it("halts on a failed gate of the custom probe (exit 3)", () => {
    const { r } = customRun([{ metric: "loss", max: 0.1 }]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/probe regression measured at step 2: fixed-loss: loss \d+\.\d+ is above the ceiling 0.1/);
  });

  it("refuses a gate on a metric the probe does not produce, before measuring (exit 2)", () => {
    const { r, run } = customRun([{ metric: "accuracy", min: 0.5 }]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/a gate of probe 'fixed-loss' reads metric 'accuracy', which the probe does not produce; it produces loss, tokens/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(() => readFileSync(join(run, "probes.jsonl"))).toThrow();
  });
});
