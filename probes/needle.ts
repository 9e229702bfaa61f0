/**
 * `needle`: needle-in-a-haystack over a grid of context length x depth. The needle "The special magic
 * number for KEY is: VALUE." is placed at a relative depth of real held-out general text; the prompt ends
 * with "The special magic number for KEY is:". Scored by greedy exact match of VALUE and by the rank of
 * VALUE's first token among all next tokens (1 = top). Lengths beyond the training context test extension.
 *
 * `keys` > 1 is RULER's multi-key NIAH: that many needles with distinct keys and values in the haystack
 * (the distractors at random depths, the asked one at the cell's depth), so a model that copies a number
 * without matching its key scores about 1/keys (a random one) or 1/2^(keys-1) (the last one), not 1. `template: "novel"` asks in a phrasing the synthetic retrieval
 * data never uses ("The access code for the KEY locker is VALUE."), with the same object keys (training
 * uses people's names): retrieval as a skill, not as the trained format.
 */
import { heldoutReplay, prepareMixture } from "../core/data/pipeline.js";
import { generateOne } from "../core/engine/LanguageModel.js";
import { createRng } from "../core/rng.js";
import { vocabulary } from "../core/data/synthetic/vocabulary.js";
import { NOT_SUPPORTED } from "../core/errors.js";
import { Samples } from "./stats.js";
import type { ProbeDefinition } from "./types.js";

/** How a fact is stated and asked. */
const TEMPLATES: Record<string, { fact: (key: string, value: string) => string; question: (key: string) => string }> = {
  trained: { fact: (k, v) => ` The special magic number for ${k} is: ${v}.`, question: (k) => `\nThe special magic number for ${k} is:` },
  novel: { fact: (k, v) => ` The access code for the ${k} locker is ${v}.`, question: (k) => `\nThe access code for the ${k} locker is` },
};

export interface NeedleCell {
  length: number;
  depth: number;
  accuracy: number;
  meanRank: number;
  trials: number;
}

export const needle: ProbeDefinition = {
  name: "needle",
  description: "needle-in-a-haystack grid (length x depth): greedy exact match and rank of the value",
  params: {
    lengths: "context lengths in tokens ([the model's context])",
    depths: "relative depths of the needle ([0, 0.25, 0.5, 0.75, 1])",
    trials: "needles per cell (2)",
    keys: "needles in the haystack, the asked one and keys - 1 distractors (1)",
    template: "'trained' (the synthetic retrieval data's phrasing) or 'novel' (trained)",
    recipe: "mixture whose held-out text is the haystack (bundled)",
  },
  metrics: () => ["accuracy", "accuracy.len*", "meanRank.len*"],
  async run({ model, tokenizer, seed }, params) {
    const lengths = (params.lengths as number[] | undefined) ?? [model.config.contextLength];
    const depths = (params.depths as number[] | undefined) ?? [0, 0.25, 0.5, 0.75, 1];
    const trials = Number(params.trials ?? 2);
    const keys = Number(params.keys ?? 1);
    if (!Number.isInteger(keys) || keys < 1) throw new Error(`needle: keys must be a whole number of at least 1 (got ${params.keys})`);
    const template = TEMPLATES[String(params.template ?? "trained")];
    if (!template) throw new Error(`needle: template must be one of ${Object.keys(TEMPLATES).join(", ")} (got '${params.template}')`);
    const { mixture } = prepareMixture(String(params.recipe ?? "bundled"));
    const hay: number[] = [];
    for (const d of heldoutReplay(mixture)) {
      hay.push(...tokenizer.encode(d.text + "\n"));
      if (hay.length > 8 * Math.max(...lengths)) break;
    }
    const { objects } = vocabulary();
    const rng = createRng(seed, "needle");
    const cells: NeedleCell[] = [];
    const s = new Samples();
    // The rank needs the full next-token distribution, which an endpoint does not give: then accuracy only.
    let ranks = true;
    for (const length of lengths) {
      for (const depth of depths) {
        let ok = 0;
        let rankSum = 0;
        for (let t = 0; t < trials; t++) {
          const facts = new Map<string, string>();
          while (facts.size < keys) facts.set(objects[rng.int(objects.length)]!, String(1000 + rng.int(9000)));
          const [[key, value], ...distractors] = [...facts] as [string, string][];
          const needleIds = tokenizer.encode(template.fact(key, value));
          const others = distractors.map(([k, v]) => tokenizer.encode(template.fact(k, v)));
          const question = tokenizer.encode(template.question(key));
          const room = length - needleIds.length - others.reduce((a, o) => a + o.length, 0) - question.length;
          if (room < 8) throw new Error(`needle: length ${length} is too short for ${keys} needle(s) and the question`);
          const start = rng.int(Math.max(1, hay.length - room));
          const text = hay.slice(start, start + room);
          const at = Math.round(depth * text.length);
          // Distractors go in at random points of the haystack either side of the asked needle (points of the
          // haystack itself, filled from the back, so no needle lands inside another).
          const before = text.slice(0, at);
          const after = text.slice(at);
          const points = others.map((o) => {
            const side = rng.int(2) === 0 ? before : after;
            return { side, at: rng.int(side.length + 1), o };
          });
          for (const p of points.sort((a, b) => b.at - a.at)) p.side.splice(p.at, 0, ...p.o);
          const prompt = [...before, ...needleIds, ...after, ...question];
          const expect = tokenizer.encode(` ${value}`);
          const out = await generateOne(model, prompt, { maxTokens: expect.length + 1, window: prompt.length + expect.length + 1 });
          const hit = tokenizer.decode(out).trim().startsWith(value) ? 1 : 0;
          ok += hit;
          s.add("accuracy", hit);
          s.add(`accuracy.len${length}`, hit);
          if (!ranks) continue;
          let logp: Float32Array;
          try {
            [logp] = (await model.nextTokenLogprobs([prompt])) as [Float32Array];
          } catch (error) {
            if (!(error instanceof Error) || !error.message.startsWith(NOT_SUPPORTED)) throw error;
            ranks = false;
            continue;
          }
          const target = logp[expect[0]!]!;
          let rank = 1;
          for (const v of logp) if (v > target) rank++;
          rankSum += rank;
          s.add(`meanRank.len${length}`, rank);
        }
        cells.push({ length, depth, accuracy: ok / trials, meanRank: ranks ? rankSum / trials : NaN, trials });
      }
    }
    const r = s.result(lengths.length * depths.length * trials, { grid: cells });
    // Order: accuracy, then per length its accuracy and mean rank.
    const order = ["accuracy", ...lengths.flatMap((l) => [`accuracy.len${l}`, `meanRank.len${l}`])].filter((k) => k in r.metrics);
    return { ...r, metrics: Object.fromEntries(order.map((k) => [k, r.metrics[k]!])) };
  },
};
