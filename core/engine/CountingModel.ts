/**
 * A LanguageModel that counts the forward compute asked of it: token positions run through the model and
 * their FLOPs (forwardFlops: 2 per matmul parameter per position, plus attention at the call's length). Probes run through it, so a run's summary can say what its
 * evaluation cost beside its training.
 */
import { forwardFlops } from "../model/Transformer.js";
import type { LanguageModel } from "./LanguageModel.js";
import type { GenerateOptions, TokenRows } from "./types.js";

export interface ForwardCompute {
  /** Token positions run forward. */
  tokens: number;
  flops: number;
}

export class CountingModel implements LanguageModel {
  constructor(
    readonly inner: LanguageModel,
    private readonly spent: ForwardCompute,
  ) {}

  get config() {
    return this.inner.config;
  }
  get tokenizer() {
    return this.inner.tokenizer;
  }
  get where() {
    return this.inner.where;
  }

  /** Count `positions` token positions of sequences `length` long on `model`. */
  private count(positions: number, length: number, model: LanguageModel = this.inner): void {
    this.spent.tokens += positions;
    this.spent.flops += forwardFlops(model.config, positions, length);
  }

  tokenLoss(rows: TokenRows): Promise<Float32Array> {
    this.count(rows.size * rows.seqLen, rows.seqLen);
    return this.inner.tokenLoss(rows);
  }

  nextTokenLogprobs(prompts: number[][]): Promise<Float32Array[]> {
    for (const p of prompts) this.count(p.length, p.length);
    return this.inner.nextTokenLogprobs(prompts);
  }

  topLogprobs(rows: Omit<TokenRows, "targets">, k: number): Promise<{ ids: Int32Array; logprobs: Float32Array }> {
    this.count(rows.size * rows.seqLen, rows.seqLen);
    return this.inner.topLogprobs(rows, k);
  }

  async generate(prompts: number[][], opts: GenerateOptions): Promise<number[][]> {
    const out = await this.inner.generate(prompts, opts);
    // With a KV cache each prompt token and each generated token is one forward position.
    for (const [i, p] of prompts.entries()) this.count(p.length + out[i]!.length, p.length + out[i]!.length);
    return out;
  }

  klFrom(reference: LanguageModel, rows: TokenRows): Promise<number | undefined> {
    const ref = reference instanceof CountingModel ? reference.inner : reference;
    this.count(rows.size * rows.seqLen, rows.seqLen);
    this.count(rows.size * rows.seqLen, rows.seqLen, ref);
    return this.inner.klFrom(ref, rows);
  }

  dispose(): Promise<void> {
    return this.inner.dispose();
  }
}
