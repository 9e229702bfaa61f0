// In-training probes run in a worker on a snapshot, land at a fixed step, are logged, and a failed gate
// becomes a verdict.
import { describe, expect, it } from "vitest";
import { ProbesPlugin } from "../../plugins/guardrails/probes.js";
import { tinyRun } from "../helpers/trainer.js";

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
