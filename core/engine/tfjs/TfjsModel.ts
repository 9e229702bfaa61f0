/**
 * A LanguageModel over a TensorFlow.js Transformer in this thread: the training model of the tfjs engine,
 * a frozen reference next to it, or a checkpoint a probe worker loaded. The work is synchronous; the
 * promises resolve at once.
 */
import * as tf from "@tensorflow/tfjs";
import { loadCheckpoint, readCheckpointModel } from "../../checkpoint/Checkpoint.js";
import type { ModelConfig } from "../../config/types.js";
import { Tokenizer } from "../../data/tokenizer/Tokenizer.js";
import { createRng } from "../../rng.js";
import { nextTokenLogProbs, sampleGroup } from "../../model/generate.js";
import { checkWasmHolds } from "../../model/memory.js";
import { Transformer } from "../../model/Transformer.js";
import type { LanguageModel } from "../LanguageModel.js";
import type { GenerateOptions, TokenRows } from "../types.js";

export class TfjsModel implements LanguageModel {
  readonly where = "tfjs";

  /** `owned`: dispose() frees the transformer (a copy), not the engine's live model. */
  constructor(
    readonly transformer: Transformer,
    readonly tokenizer: Tokenizer,
    private readonly owned: boolean,
  ) {}

  /** A frozen model from a verified checkpoint directory. */
  static fromCheckpoint(dir: string): TfjsModel {
    if (tf.getBackend() === "wasm") checkWasmHolds(readCheckpointModel(dir), dir);
    const ckpt = loadCheckpoint(dir, { withOptimizer: false });
    return new TfjsModel(Transformer.fromWeights(ckpt.state.model, ckpt.weights), new Tokenizer(ckpt.tokenizerJson), true);
  }

  get config(): ModelConfig {
    return this.transformer.config;
  }

  async tokenLoss(rows: TokenRows): Promise<Float32Array> {
    return tf.tidy(() => (this.transformer.forward(rows.inputs, rows.targets, rows.size, rows.seqLen).tokenLoss.dataSync() as Float32Array).slice());
  }

  async topLogprobs(rows: Omit<TokenRows, "targets">, k: number): Promise<{ ids: Int32Array; logprobs: Float32Array }> {
    return tf.tidy(() => {
      const m = this.transformer;
      const lp = tf.logSoftmax(m.logits(m.hidden(rows.inputs, rows.size, rows.seqLen)));
      const top = tf.topk(lp, k);
      return { ids: (top.indices.dataSync() as Int32Array).slice(), logprobs: (top.values.dataSync() as Float32Array).slice() };
    });
  }

  async nextTokenLogprobs(prompts: number[][]): Promise<Float32Array[]> {
    return prompts.map((p) => nextTokenLogProbs(this.transformer, p, Math.max(p.length, 1)));
  }

  async generate(prompts: number[][], opts: GenerateOptions): Promise<number[][]> {
    const re = opts.stopPattern ? new RegExp(opts.stopPattern) : undefined;
    const rng = opts.temperature && opts.temperature > 0 ? createRng(opts.seed ?? 0, "sample") : undefined;
    const until = re ? (g: number[]) => re.test(this.tokenizer.decode(g)) : undefined;
    const out: number[][] = new Array(prompts.length);
    // Identical prompts (k samples of one prompt) decode side by side; distinct ones in turn.
    const groups = new Map<string, number[]>();
    prompts.forEach((p, i) => groups.set(p.join(","), [...(groups.get(p.join(",")) ?? []), i]));
    for (const rows of groups.values()) {
      const completions = sampleGroup(this.transformer, prompts[rows[0]!]!, rows.length, { maxTokens: opts.maxTokens, temperature: opts.temperature ?? 0, rng, stop: opts.stopTokens, until, window: opts.window });
      rows.forEach((r, i) => (out[r] = completions[i]!));
    }
    return out;
  }

  async klFrom(reference: LanguageModel, rows: TokenRows): Promise<number | undefined> {
    if (!(reference instanceof TfjsModel)) return undefined;
    const ref = reference.transformer;
    const model = this.transformer;
    const total = tf.tidy(() => {
      const lp = tf.logSoftmax(model.logits(model.hidden(rows.inputs, rows.size, rows.seqLen)));
      const lq = tf.logSoftmax(ref.logits(ref.hidden(rows.inputs, rows.size, rows.seqLen)));
      return tf.sum(tf.mul(tf.exp(lq), tf.sub(lq, lp))).dataSync()[0]!;
    });
    return total / (rows.size * rows.seqLen);
  }

  private disposed = false;

  async dispose(): Promise<void> {
    if (!this.owned || this.disposed) return;
    this.disposed = true;
    this.transformer.dispose();
  }
}
