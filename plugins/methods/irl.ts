/**
 * `irl`: internalized RL on verifiable tasks during mid-training. Every `every` steps it samples k
 * completions for each of a few synthetic training prompts (seeded, with temperature), scores them with a
 * verifiable reward, turns rewards into group-relative advantages (GRPO, Shao et al. 2024:
 * A_i = (r_i - mean_g r) / (std_g r + eps)), and adds a REINFORCE loss on the sampled tokens
 *   L_rl = -sum_i A_i sum_t log p(y_it) / (tokens sampled)
 * plus an optional KL penalty to a reference model on the same tokens (k3 estimator, Schulman 2020:
 * exp(l_ref - l) - (l_ref - l) - 1), weighted and added to the LM loss through transformLoss.
 *
 * Logs per RL pass: irl.reward (mean), irl.pass1 (share of samples with the right answer: an unbiased
 * pass@1 estimate on training prompts), irl.kl, and irl.flops (cumulative forward/backward FLOPs the
 * passes cost, for compute-matched comparisons).
 */
import type { ModelConfig } from "../../core/config/types.js";
import { codeItems } from "../../core/data/synthetic/code.js";
import { mathItems } from "../../core/data/synthetic/math.js";
import type { Tokenizer } from "../../core/data/tokenizer/Tokenizer.js";
import { isHeldOut } from "../../core/data/sources/general.js";
import type { LanguageModel } from "../../core/engine/LanguageModel.js";
import type { Rollouts } from "../../core/engine/types.js";
import { PluginError } from "../../core/errors.js";
import { matmulParams } from "../../core/model/Transformer.js";
import { resolveModelSource } from "../../core/interop/modelSource.js";
import type { MtxPlugin, PluginDefinition, TrainerApi } from "../../core/plugin.js";
import type { Rng } from "../../core/rng.js";
import { HELDOUT_SHARE, PROBE_SEED } from "../../probes/items.js";
import schema from "./irl.schema.json" with { type: "json" };

export type { Rollouts };

const PLUGIN_NAME = "irl";

export interface IrlOptions {
  every: number;
  task: "math" | "code";
  maxDifficulty: number;
  prompts: number;
  k: number;
  temperature: number;
  maxTokens: number;
  reward: "exact" | "prefix" | "self-consistency";
  weight: number;
  klWeight: number;
  reference: string;
}

/** A verifiable item: prompt text, reference completion and the answer a completion must state. */
export interface RlItem {
  prompt: string;
  reference: string;
  answer: string;
}

/** The final answer a completion states, by task. */
export function extractAnswer(task: IrlOptions["task"], text: string): string | undefined {
  return (task === "math" ? /Answer:\s*(-?\d+)/ : /Output:\s*(-?\d+)/).exec(text)?.[1];
}

/** Training items of the task (the probes' held-out items excluded), easiest first. */
export function rlItems(task: IrlOptions["task"], maxDifficulty: number, pool = 3000): RlItem[] {
  if (task === "math") {
    return mathItems(PROBE_SEED, pool)
      .filter((i) => !isHeldOut(i.id, HELDOUT_SHARE) && i.difficulty <= maxDifficulty)
      .map((i) => ({ prompt: `Problem: ${i.question}\nSolution:\n`, reference: i.solution, answer: String(i.answer) }));
  }
  return codeItems(PROBE_SEED, pool)
    .filter((i) => !isHeldOut(i.id, HELDOUT_SHARE) && i.difficulty <= maxDifficulty)
    .map((i) => ({ prompt: `Program:\n${i.program}\nTrace:\n`, reference: `${i.trace}\nOutput: ${i.output}`, answer: i.output }));
}

/** Rewards of a group of completions of one item. */
export function groupRewards(kind: IrlOptions["reward"], task: IrlOptions["task"], item: RlItem, texts: string[]): { rewards: number[]; correct: boolean[] } {
  const answers = texts.map((t) => extractAnswer(task, t));
  const correct = answers.map((a) => a === item.answer);
  if (kind === "exact") return { rewards: correct.map(Number), correct };
  if (kind === "prefix") {
    const rewards = texts.map((t, i) => {
      let n = 0;
      while (n < t.length && n < item.reference.length && t[n] === item.reference[n]) n++;
      return n / item.reference.length + (correct[i] ? 1 : 0);
    });
    return { rewards, correct };
  }
  const counts = new Map<string, number>();
  for (const a of answers) if (a !== undefined) counts.set(a, (counts.get(a) ?? 0) + 1);
  let majority: string | undefined;
  let best = 0;
  for (const [a, c] of [...counts].sort()) if (c > best) [majority, best] = [a, c];
  return { rewards: answers.map((a) => (majority !== undefined && best > 1 && a === majority ? 1 : 0)), correct };
}

/** Group-relative advantages: (r - mean) / (std + eps); all zero when the group agrees. */
export function groupAdvantages(rewards: number[], eps = 1e-4): number[] {
  const mean = rewards.reduce((a, b) => a + b, 0) / rewards.length;
  const std = Math.sqrt(rewards.reduce((a, r) => a + (r - mean) ** 2, 0) / rewards.length);
  return rewards.map((r) => (std < 1e-9 ? 0 : (r - mean) / (std + eps)));
}

export class IrlPlugin implements MtxPlugin {
  readonly name = PLUGIN_NAME;
  private items: RlItem[] = [];
  private model!: LanguageModel;
  private modelConfig!: ModelConfig;
  private tokenizer!: Tokenizer;
  private reference: LanguageModel | undefined;
  private rng!: Rng;
  private pending: Rollouts | undefined;
  private flops = 0;

  constructor(readonly options: IrlOptions) {}

  apply(trainer: TrainerApi): void {
    const { hooks } = trainer;
    const o = this.options;
    hooks.runStart.tapPromise(PLUGIN_NAME, async (run) => {
      this.model = run.model;
      this.modelConfig = run.modelConfig;
      this.tokenizer = run.tokenizer;
      this.items = rlItems(o.task, o.maxDifficulty);
      if (!this.items.length) throw new PluginError(PLUGIN_NAME, "runStart", `no ${o.task} items with difficulty <= ${o.maxDifficulty}`);
      this.rng = trainer.rng(PLUGIN_NAME);
      if (o.klWeight > 0) {
        const ref = o.reference === "start" ? (run.config.from === null ? undefined : run.from ?? resolveModelSource(run.config.from)) : resolveModelSource(o.reference);
        if (!ref) throw new PluginError(PLUGIN_NAME, "runStart", "the KL term needs a reference model but the run starts from a random init: set options.reference to a checkpoint or klWeight to 0");
        this.reference = await run.loadModel(ref);
      }
    });
    // Sampling needs the engine (async): the rollouts of a step are drawn before its batch.
    hooks.prepareStep.tapPromise(PLUGIN_NAME, async ({ step }) => {
      if (step % o.every === 0) this.pending = await this.rollout(trainer);
    });
    hooks.transformLoss.tap(PLUGIN_NAME, (loss) => {
      const r = this.pending;
      if (!r) return loss;
      this.pending = undefined;
      this.flops += 6 * matmulParams(this.modelConfig) * r.size * r.seqLen;
      trainer.logMetrics({ "irl.flops": this.flops });
      return { ...loss, terms: [...loss.terms, { kind: "reinforce", name: PLUGIN_NAME, weight: o.weight, klWeight: o.klWeight, rollouts: r }] };
    });
    hooks.afterBackward.tap(PLUGIN_NAME, (ctx) => {
      const kl = ctx.termDetails[PLUGIN_NAME]?.kl;
      if (kl !== undefined) trainer.logMetrics({ "irl.kl": kl });
    });
    hooks.shutdown.tapPromise(PLUGIN_NAME, async () => {
      await this.reference?.dispose();
    });
  }

  /** Sample, score and pack one RL pass (outside the gradient computation). */
  private async rollout(trainer: TrainerApi): Promise<Rollouts> {
    const o = this.options;
    const eos = this.tokenizer.eosId;
    const ctx = this.modelConfig.contextLength;
    const seqs: { ids: number[]; promptLen: number; advantage: number }[] = [];
    let rewardSum = 0;
    let correctSum = 0;
    let generated = 0;
    // Stop once the answer line is complete (a character after the number), as the probes do.
    const stopPattern = o.task === "math" ? "Answer:\\s*-?\\d+\\s" : "Output:\\s*-?\\d+\\s";
    for (let p = 0; p < o.prompts; p++) {
      const item = this.items[this.rng.int(this.items.length)]!;
      const prompt = Array.from(this.tokenizer.encode(item.prompt).slice(-(ctx - o.maxTokens)));
      const completions = await this.model.generate(Array.from({ length: o.k }, () => prompt), { maxTokens: o.maxTokens, temperature: o.temperature, seed: this.rng.int(2 ** 31), stopTokens: [eos], stopPattern });
      const texts = completions.map((c) => this.tokenizer.decode(c));
      const { rewards, correct } = groupRewards(o.reward, o.task, item, texts);
      const adv = groupAdvantages(rewards);
      completions.forEach((c, i) => seqs.push({ ids: [...prompt, ...c, eos], promptLen: prompt.length, advantage: adv[i]! }));
      // Cached decoding: the prompt once, then one token per row per step.
      generated += o.k * (prompt.length + Math.min(o.maxTokens, Math.max(...completions.map((c) => c.length)) + 1));
      rewardSum += rewards.reduce((a, b) => a + b, 0);
      correctSum += correct.filter(Boolean).length;
    }
    const n = o.prompts * o.k;
    const len = Math.max(...seqs.map((s) => s.ids.length)) - 1;
    const inputs = new Int32Array(n * len).fill(eos);
    const targets = new Int32Array(n * len).fill(eos);
    const mask = new Float32Array(n * len);
    const advantages = new Float32Array(n);
    let tokens = 0;
    seqs.forEach((s, r) => {
      inputs.set(s.ids.slice(0, -1), r * len);
      targets.set(s.ids.slice(1), r * len);
      // Targets at positions promptLen-1 .. end are the sampled tokens (and the closing eos).
      for (let t = s.promptLen - 1; t < s.ids.length - 1; t++) mask[r * len + t] = 1;
      tokens += s.ids.length - s.promptLen;
      advantages[r] = s.advantage;
    });
    let refLogp: Float32Array | undefined;
    if (this.reference) {
      refLogp = (await this.reference.tokenLoss({ inputs, targets, size: n, seqLen: len })).map((x) => -x);
      this.flops += 2 * matmulParams(this.reference.config) * n * len;
    }
    this.flops += 2 * matmulParams(this.modelConfig) * generated;
    trainer.logMetrics({ "irl.reward": rewardSum / n, "irl.pass1": correctSum / n });
    return { inputs, targets, size: n, seqLen: len, mask, advantages, refLogp, tokens: Math.max(1, tokens) };
  }

  state(): unknown {
    return { flops: this.flops };
  }

  restore(state: unknown): void {
    this.flops = (state as { flops?: number }).flops ?? 0;
    this.pending = undefined;
  }
}

export const irlPlugin: PluginDefinition<IrlOptions> = {
  name: PLUGIN_NAME,
  kind: "method",
  description: "Internalized RL on synthetic math/code: sampled completions, verifiable reward, group-relative REINFORCE (+KL) mixed into the loss",
  hooks: ["runStart", "prepareStep", "transformLoss", "afterBackward", "shutdown"],
  optionsSchema: schema,
  create: (o) => new IrlPlugin(o),
};
