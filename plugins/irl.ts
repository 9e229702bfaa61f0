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
import * as tf from "@tensorflow/tfjs";
import { loadCheckpoint } from "../core/checkpoint/Checkpoint.js";
import { codeItems } from "../core/data/synthetic/code.js";
import { mathItems } from "../core/data/synthetic/math.js";
import type { Tokenizer } from "../core/data/tokenizer/Tokenizer.js";
import { isHeldOut } from "../core/data/sources/general.js";
import { PluginError } from "../core/errors.js";
import type { LossContext } from "../core/hooks.js";
import { sampleGroup } from "../core/model/generate.js";
import { matmulParams, Transformer } from "../core/model/Transformer.js";
import { resolveCheckpointPath } from "../core/paths.js";
import type { MtxPlugin } from "../core/plugin.js";
import type { Rng } from "../core/rng.js";
import type { TrainerApi } from "../core/TrainerApi.js";
import { HELDOUT_SHARE, PROBE_SEED } from "../probes/items.js";
import schema from "./schema/irl.schema.json" with { type: "json" };
import type { PluginDefinition } from "./types.js";

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

/** The sampled rows of one RL pass, padded to one length. */
export interface Rollouts {
  inputs: Int32Array;
  targets: Int32Array;
  rows: number;
  len: number;
  /** 1 on target positions that are sampled completion tokens. */
  mask: Float32Array;
  /** Advantage per row. */
  advantages: Float32Array;
  /** Reference log-probabilities of the targets (for the KL term). */
  refLogp?: Float32Array;
  tokens: number;
}

/**
 * weight x (REINFORCE loss + klWeight x KL to the reference) on the sampled tokens of `r`, differentiable
 * through `model` (call inside the gradient computation).
 */
export function reinforceLoss(model: Transformer, r: Rollouts, weight: number, klWeight: number): { term: tf.Scalar; kl?: tf.Scalar } {
  const forward = model.forward(r.inputs, r.targets, r.rows, r.len);
  const logp = tf.neg(forward.tokenLoss); // [rows * len]
  const mask = tf.tensor1d(r.mask);
  const adv = tf.reshape(tf.tile(tf.reshape(tf.tensor1d(r.advantages), [r.rows, 1]), [1, r.len]), [-1]);
  const pg = tf.div(tf.neg(tf.sum(tf.mul(tf.mul(adv, logp), mask))), r.tokens) as tf.Scalar;
  if (!r.refLogp || klWeight <= 0) return { term: tf.mul(pg, weight) as tf.Scalar };
  const diff = tf.sub(tf.tensor1d(r.refLogp), logp);
  const kl = tf.div(tf.sum(tf.mul(tf.sub(tf.sub(tf.exp(diff), diff), 1), mask)), r.tokens) as tf.Scalar;
  return { term: tf.mul(tf.add(pg, tf.mul(kl, klWeight)), weight) as tf.Scalar, kl };
}

export class IrlPlugin implements MtxPlugin {
  readonly name = PLUGIN_NAME;
  private items: RlItem[] = [];
  private model!: Transformer;
  private tokenizer!: Tokenizer;
  private reference: Transformer | undefined;
  private rng!: Rng;
  private pending: Rollouts | undefined;
  private flops = 0;

  constructor(readonly options: IrlOptions) {}

  apply(trainer: TrainerApi): void {
    const { hooks } = trainer;
    const o = this.options;
    hooks.runStart.tap(PLUGIN_NAME, (run) => {
      this.model = run.model;
      this.tokenizer = run.tokenizer;
      this.items = rlItems(o.task, o.maxDifficulty);
      if (!this.items.length) throw new PluginError(PLUGIN_NAME, "runStart", `no ${o.task} items with difficulty <= ${o.maxDifficulty}`);
      this.rng = trainer.rng(PLUGIN_NAME);
      if (o.klWeight > 0) {
        const ref = o.reference === "start" ? (run.config.from === null ? undefined : resolveCheckpointPath(run.config.from)) : resolveCheckpointPath(o.reference);
        if (!ref) throw new PluginError(PLUGIN_NAME, "runStart", "the KL term needs a reference model but the run starts from a random init: set options.reference to a checkpoint or klWeight to 0");
        const ckpt = loadCheckpoint(ref, { withOptimizer: false });
        this.reference = Transformer.fromWeights(ckpt.state.model, ckpt.weights);
        for (const v of this.reference.params.values()) v.trainable = false;
      }
    });
    hooks.stepStart.tap(PLUGIN_NAME, (step) => {
      if (step.step % o.every === 0) this.pending = this.rollout(trainer);
    });
    hooks.transformLoss.tap(PLUGIN_NAME, (loss: LossContext) => {
      const r = this.pending;
      if (!r) return loss;
      this.pending = undefined;
      const { term, kl } = reinforceLoss(this.model, r, o.weight, o.klWeight);
      if (kl) trainer.logMetrics({ "irl.kl": kl.dataSync()[0]! });
      this.flops += 6 * matmulParams(this.model.config) * r.rows * r.len;
      trainer.logMetrics({ "irl.flops": this.flops });
      return { ...loss, terms: [...loss.terms, { name: PLUGIN_NAME, value: term }] };
    });
    hooks.shutdown.tap(PLUGIN_NAME, () => {
      this.reference?.dispose();
    });
  }

  /** Sample, score and pack one RL pass (outside the gradient computation). */
  private rollout(trainer: TrainerApi): Rollouts {
    const o = this.options;
    const eos = this.tokenizer.eosId;
    const ctx = this.model.config.contextLength;
    const seqs: { ids: number[]; promptLen: number; advantage: number }[] = [];
    let rewardSum = 0;
    let correctSum = 0;
    let generated = 0;
    // Stop once the answer line is complete (a character after the number), as the probes do.
    const done = o.task === "math" ? /Answer:\s*-?\d+\s/ : /Output:\s*-?\d+\s/;
    const until = (g: number[]) => done.test(this.tokenizer.decode(g));
    for (let p = 0; p < o.prompts; p++) {
      const item = this.items[this.rng.int(this.items.length)]!;
      const prompt = this.tokenizer.encode(item.prompt).slice(-(ctx - o.maxTokens));
      const completions = sampleGroup(this.model, prompt, o.k, { maxTokens: o.maxTokens, temperature: o.temperature, rng: this.rng, stop: [eos], until });
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
      const ref = this.reference;
      refLogp = tf.tidy(() => tf.neg(ref.forward(inputs, targets, n, len).tokenLoss).dataSync() as Float32Array);
      this.flops += 2 * matmulParams(ref.config) * n * len;
    }
    this.flops += 2 * matmulParams(this.model.config) * generated;
    trainer.logMetrics({ "irl.reward": rewardSum / n, "irl.pass1": correctSum / n });
    return { inputs, targets, rows: n, len, mask, advantages, refLogp, tokens: Math.max(1, tokens) };
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
  description: "Internalized RL on synthetic math/code: sampled completions, verifiable reward, group-relative REINFORCE (+KL) mixed into the loss",
  hooks: ["runStart", "stepStart", "transformLoss", "shutdown"],
  optionsSchema: schema,
  create: (o) => new IrlPlugin(o),
};
