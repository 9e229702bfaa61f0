/**
 * The drift probe: held-out general bits per byte of a model and its KL divergence from the frozen base
 * model on fixed general text. The base is loaded where the model lives; its scores are cached per host,
 * keyed by the base checkpoint and the batches.
 */
import { scoreRows, type HeldoutScore, type LabelledRows, type LanguageModel } from "../core/engine/LanguageModel.js";
import type { ProbeDefinition } from "./types.js";

export interface DriftParams {
  /** Base checkpoint directory. */
  base: string;
  /** Held-out general text (the replay sources). */
  general: LabelledRows[];
  /** Held-out text of the other sources, for per-source tracking. */
  others: LabelledRows[];
  /** How many general batches also measure the KL divergence. */
  klBatches: number;
}

export interface DriftScores {
  general: HeldoutScore;
  others: HeldoutScore["perSource"];
}

export interface DriftResult {
  score: DriftScores;
  base: DriftScores;
  /** Mean per-token KL(base || model), nats; null when the model's host cannot compute it. */
  kl: number | null;
}

const baseScores = new Map<string, Promise<DriftScores>>();

async function scores(model: LanguageModel, p: DriftParams): Promise<DriftScores> {
  return { general: await scoreRows(model, p.general), others: p.others.length ? (await scoreRows(model, p.others)).perSource : {} };
}

/** Mean KL(base || model) over the first `klBatches` general batches. */
async function kl(model: LanguageModel, base: LanguageModel, p: DriftParams): Promise<number | null> {
  let total = 0;
  let n = 0;
  for (const b of p.general.slice(0, p.klBatches)) {
    const k = await model.klFrom(base, b);
    if (k === undefined) return null;
    total += k * b.size * b.seqLen;
    n += b.size * b.seqLen;
  }
  return n ? total / n : 0;
}

export const drift: ProbeDefinition = {
  name: "drift",
  description: "held-out general bits per byte and KL(base || model) against the base model",
  async run(ctx, raw) {
    const p = raw as unknown as DriftParams;
    const base = await ctx.load({ kind: "checkpoint", dir: p.base });
    const key = `${p.base}:${p.general.length}:${p.others.length}:${p.general[0]?.inputs.slice(0, 16).join(",")}`;
    let b = baseScores.get(key);
    if (!b) baseScores.set(key, (b = scores(base, p)));
    const result: DriftResult = { score: await scores(ctx.model, p), base: await b, kl: await kl(ctx.model, base, p) };
    return {
      metrics: { bpb: result.score.general.bpb, baseBpb: result.base.general.bpb, ...(result.kl === null ? {} : { kl: result.kl }) },
      stderr: { bpb: result.score.general.se.bpb, baseBpb: result.base.general.se.bpb },
      n: result.score.general.tokens,
      details: result,
    };
  },
};
