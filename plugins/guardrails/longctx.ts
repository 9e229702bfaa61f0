/**
 * `longctx`: in-training long-context probes (the `probes` plugin preset): loss by position bucket at
 * twice the training context, and a needle-in-a-haystack grid at 1x and 2x, every `every` steps off
 * the step loop; a drop of needle accuracy at the training length beyond sampling noise halts the run.
 */
import type { PluginDefinition } from "../../core/plugin.js";
import { ProbesPlugin, type ProbesOptions } from "./probes.js";

export interface LongctxOptions {
  every: number;
  lag: number;
  action: "halt" | "rollback";
  contextLength: number;
}

export function longctxProbes(o: LongctxOptions): ProbesOptions {
  const L = o.contextLength;
  return {
    every: o.every,
    lag: o.lag,
    action: o.action,
    probes: [
      { id: "position-loss", probe: "position-loss", params: { seqLen: 2 * L, sequences: 2 }, gates: [] },
      { id: "needle", probe: "needle", params: { lengths: [L, 2 * L], depths: [0, 0.5, 1], trials: 2 }, gates: [{ metric: `accuracy.len${L}`, maxDrop: 0.2 }] },
    ],
  };
}

export const longctxPlugin: PluginDefinition<LongctxOptions> = {
  name: "longctx",
  kind: "guardrail",
  description: "In-training long-context probes (loss by position, needle grid at 1x and 2x context) in a worker",
  hooks: ["runStart", "stepEnd", "shouldHalt", "shutdown"],
  optionsSchema: {
    type: "object",
    additionalProperties: false,
    properties: {
      every: { type: "integer", minimum: 1, default: 100, description: "Steps between measurements." },
      lag: { type: "integer", minimum: 0, default: 20, description: "Steps between the snapshot and acting on its result." },
      action: { type: "string", enum: ["halt", "rollback"], default: "halt" },
      contextLength: { type: "integer", minimum: 48, default: 128, description: "The training context the grid is built around (at least 48 tokens: a needle, its question and room to hide it)." },
    },
  },
  create: (o) => new ProbesPlugin(longctxProbes(o), "longctx"),
};
