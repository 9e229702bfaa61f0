/**
 * Reasoning probes on held-out synthetic items, by greedy decoding (and sampling where k > 1):
 * - `math`: exact match of the final `Answer: N`, overall and by difficulty, and maj@k; the teacher-forced
 *   NLL of the reference solution per token (`solutionNll`) and of the answer given the steps (`answerNll`);
 * - `code`: exact match of the program's output after its trace;
 * - `self-consistency`: k samples at temperature T per problem: agreement (share of samples stating the
 *   most common answer; "no answer" never counts), outcome entropy, the share answered, and maj@k minus
 *   greedy accuracy.
 */
import { continuationLogProb } from "../core/engine/LanguageModel.js";
import { createRng, type Rng } from "../core/rng.js";
import { heldoutCode, heldoutMath, parseAnswer } from "./items.js";
import { Samples } from "./stats.js";
import type { ProbeContext, ProbeDefinition, ProbeResult } from "./types.js";

const ANSWER_DONE = "Answer:\\s*-?\\d+\\s";

/**
 * `k` completions of a math prompt (greedy when temperature is 0, else sampled with a seed drawn from
 * `rng`), each cut once its answer line is complete, with the answer it states.
 */
async function answersOf(ctx: ProbeContext, prompt: string, maxTokens: number, k = 1, temperature = 0, rng?: Rng): Promise<{ answer?: string; text: string }[]> {
  const ids = Array.from(ctx.tokenizer.encode(prompt));
  const seed = temperature > 0 && rng ? rng.int(2 ** 31) : undefined;
  const out = await ctx.model.generate(Array.from({ length: k }, () => ids), { maxTokens, temperature, seed, stopTokens: [ctx.tokenizer.eosId], stopPattern: ANSWER_DONE });
  return out.map((o) => {
    const text = ctx.tokenizer.decode(o);
    return { answer: parseAnswer(text), text };
  });
}

/**
 * The most common stated answer and its count, and the entropy of the outcomes. "No answer" is not an
 * answer: it never wins the vote and each one counts as an outcome of its own, so a model that answers
 * nothing has agreement 0 and the highest entropy (ln k), not a perfect consensus.
 */
export function majority(answers: (string | undefined)[]): { answer?: string; count: number; entropy: number; answered: number } {
  const counts = new Map<string, number>();
  let answered = 0;
  for (const a of answers) {
    if (a === undefined) continue;
    answered++;
    counts.set(a, (counts.get(a) ?? 0) + 1);
  }
  let best: string | undefined;
  let count = 0;
  for (const [a, c] of [...counts].sort()) if (c > count) [best, count] = [a, c];
  const k = answers.length;
  let entropy = 0;
  for (const c of counts.values()) entropy -= (c / k) * Math.log(c / k);
  entropy += (k - answered) * (1 / k) * Math.log(k); // each unanswered sample is a singleton outcome
  return { answer: best, count, entropy, answered };
}

/** math's metrics in a stable order: accuracy, lengths and likelihoods, accuracy.d1, d2, ..., maj@k, pass@k, sampled pass@1. */
function sortedDifficulties(r: ProbeResult): ProbeResult {
  const keys = Object.keys(r.metrics);
  const difficulty = (k: string) => Number(/^accuracy\.d(\d+)$/.exec(k)?.[1] ?? NaN);
  const byDifficulty = keys.filter((k) => Number.isFinite(difficulty(k))).sort((a, b) => difficulty(a) - difficulty(b));
  const order = [...["accuracy", "meanCompletionChars", "solutionNll", "answerNll"].filter((k) => k in r.metrics), ...byDifficulty, ...keys.filter((k) => k.startsWith("maj@")), ...keys.filter((k) => k.startsWith("pass@")), ...keys.filter((k) => k === "sampledPass@1")];
  return { ...r, metrics: Object.fromEntries(order.map((k) => [k, r.metrics[k]!])) };
}

export const math: ProbeDefinition = {
  name: "math",
  description: "held-out synthetic word problems: exact match of Answer: N by difficulty, maj@k",
  params: {
    items: "problems (30)",
    maxDifficulty: "hardest problem asked, in operations (6: all, cycling 1-6)",
    k: "samples per problem for maj@k, pass@k and sampled pass@1 (1: greedy only)",
    temperature: "sampling temperature of the k samples (0.7)",
    maxTokens: "tokens per solution (72)",
  },
  metrics: (p) => ["accuracy", "accuracy.d*", "meanCompletionChars", "solutionNll", "answerNll", ...(Number(p.k ?? 1) > 1 ? [`maj@${Number(p.k)}`, `pass@${Number(p.k)}`, "sampledPass@1"] : [])],
  async run(ctx, params) {
    const items = heldoutMath(Number(params.items ?? 30), 6000, Number(params.maxDifficulty ?? 6));
    const k = Number(params.k ?? 1);
    const maxTokens = Number(params.maxTokens ?? 72);
    const rng = createRng(ctx.seed, "math");
    const s = new Samples();
    for (const item of items) {
      const prompt = `Problem: ${item.question}\nSolution:\n`;
      // Teacher-forced log-likelihoods (lm-evaluation-harness style): sensitive where exact match is 0.
      const promptIds = Array.from(ctx.tokenizer.encode(prompt));
      const solutionIds = Array.from(ctx.tokenizer.encode(item.solution));
      s.add("solutionNll", -(await continuationLogProb(ctx.model, promptIds, solutionIds)) / solutionIds.length);
      const beforeAnswer = Array.from(ctx.tokenizer.encode(prompt + item.solution.replace(/ -?\d+$/, "")));
      const answerIds = Array.from(ctx.tokenizer.encode(` ${item.answer}`));
      s.add("answerNll", -(await continuationLogProb(ctx.model, beforeAnswer, answerIds)));
      const [greedy] = await answersOf(ctx, prompt, maxTokens);
      s.add("meanCompletionChars", greedy!.text.length);
      const right = greedy!.answer === String(item.answer) ? 1 : 0;
      s.add("accuracy", right);
      s.add(`accuracy.d${item.difficulty}`, right);
      if (k > 1) {
        const samples = (await answersOf(ctx, prompt, maxTokens, k, Number(params.temperature ?? 0.7), rng)).map((a) => a.answer);
        s.add(`maj@${k}`, majority(samples).answer === String(item.answer) ? 1 : 0);
        // pass@k: some sample is right; sampled pass@1: the share of samples that are (unbiased pass@1 at T).
        const right = samples.filter((a) => a === String(item.answer)).length;
        s.add(`pass@${k}`, right > 0 ? 1 : 0);
        s.add("sampledPass@1", right / k);
      }
    }
    return sortedDifficulties(s.result(items.length));
  },
};

export const code: ProbeDefinition = {
  name: "code",
  description: "held-out tiny programs: exact match of the output after the trace",
  params: { items: "programs (20)", maxTokens: "tokens per trace (96)" },
  metrics: () => ["accuracy"],
  async run(ctx, params) {
    const items = heldoutCode(Number(params.items ?? 20));
    const maxTokens = Number(params.maxTokens ?? 96);
    const s = new Samples();
    for (const item of items) {
      const [ids] = await ctx.model.generate([Array.from(ctx.tokenizer.encode(`Program:\n${item.program}\nTrace:\n`))], {
        maxTokens,
        stopTokens: [ctx.tokenizer.eosId],
        stopPattern: "Output:\\s*\\S+\\s",
      });
      const out = /Output:\s*(-?\d+)/.exec(ctx.tokenizer.decode(ids!))?.[1];
      s.add("accuracy", out === item.output ? 1 : 0);
    }
    return s.result(items.length);
  },
};

export const selfConsistency: ProbeDefinition = {
  name: "self-consistency",
  description: "k samples per math problem: agreement, answer entropy, maj@k minus greedy",
  params: { items: "problems (10)", k: "samples per problem (5)", temperature: "sampling temperature (0.7)" },
  metrics: (p) => ["agreement", "entropy", "answered", `maj@${Number(p.k ?? 5)}`, "majMinusGreedy"],
  async run(ctx, params) {
    const items = heldoutMath(Number(params.items ?? 10));
    const k = Number(params.k ?? 5);
    const t = Number(params.temperature ?? 0.7);
    const rng = createRng(ctx.seed, "self-consistency");
    const s = new Samples();
    for (const item of items) {
      const prompt = `Problem: ${item.question}\nSolution:\n`;
      const answers = (await answersOf(ctx, prompt, 72, k, t, rng)).map((a) => a.answer);
      const m = majority(answers);
      s.add("agreement", m.count / k);
      s.add("entropy", m.entropy);
      s.add("answered", m.answered / k);
      const maj = m.answer === String(item.answer) ? 1 : 0;
      const greedy = (await answersOf(ctx, prompt, 72))[0]!.answer === String(item.answer) ? 1 : 0;
      s.add(`maj@${k}`, maj);
      s.add("majMinusGreedy", maj - greedy);
    }
    return s.result(items.length);
  },
};
