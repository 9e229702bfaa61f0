/**
 * A language model as probes, plugins and `mtx serve` see it: scoring (per-token cross-entropy, next-token
 * log-probabilities) and decoding, asynchronous so the model may live in this thread, a worker, the PyTorch
 * engine's process or a server. Everything that measures a model goes through this interface, so it
 * measures the same way whichever engine holds the weights.
 */
import type { ModelConfig } from "../config/types.js";
import { ratio } from "../stats.js";
import type { Tokenizer } from "../data/tokenizer/Tokenizer.js";
import type { GenerateOptions, TokenRows } from "./types.js";

export interface LanguageModel {
  /** The architecture (context length, vocabulary size, RoPE). */
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  /** Where the model lives, for logs: `tfjs`, `torch (cpu, pid 1234)`. */
  readonly where: string;
  /** Cross-entropy of each target given its prefix, row-major [size * seqLen] (nats). */
  tokenLoss(rows: TokenRows): Promise<Float32Array>;
  /** Log-probabilities of every next token after each prompt (at its last position), one array of V each. */
  nextTokenLogprobs(prompts: number[][]): Promise<Float32Array[]>;
  /**
   * The k most likely next tokens at every position of the rows' inputs, most likely first: ids and
   * log-probabilities row-major [size * seqLen * k] (a server's top_logprobs).
   */
  topLogprobs(rows: Omit<TokenRows, "targets">, k: number): Promise<{ ids: Int32Array; logprobs: Float32Array }>;
  /** A completion of each prompt (token ids, stop token excluded); rows decode side by side with a KV cache. */
  generate(prompts: number[][], opts: GenerateOptions): Promise<number[][]>;
  /**
   * Mean KL(reference || this model) per position over the rows (nats), when both live on the same engine;
   * undefined when this model cannot compute it against that reference.
   */
  klFrom(reference: LanguageModel, rows: TokenRows): Promise<number | undefined>;
  /** Release what the model holds (a copy's weights; not the live training model). */
  dispose(): Promise<void>;
}

/** Held-out loss and bits per byte with their standard errors over windows, overall and per source. */
export interface HeldoutScore {
  loss: number;
  bpb: number;
  tokens: number;
  /** Standard errors of loss and bpb over the scored windows (delta method for the ratios). */
  se: { loss: number; bpb: number };
  windows: number;
  perSource: Record<string, { loss: number; bpb: number; tokens: number; se: { loss: number; bpb: number }; windows: number }>;
}

/** Token rows with a source label per row, as held-out batches cross into workers and engines. */
export interface LabelledRows extends TokenRows {
  sources: string[];
}

/**
 * Mean next-token loss (nats) and bits per byte, overall and per source (lm-evaluation-harness
 * definitions: bpb = sum NLL / sum UTF-8 bytes / ln 2, which compares across tokenizers), each with its
 * standard error over the windows scored.
 */
export async function scoreRows(model: LanguageModel, batches: LabelledRows[], tokenBytes = model.tokenizer.tokenBytes): Promise<HeldoutScore> {
  const per = new Map<string, { nll: number[]; tokens: number[]; bytes: number[] }>();
  for (const b of batches) {
    const loss = await model.tokenLoss(b);
    for (let s = 0; s < b.size; s++) {
      const acc = per.get(b.sources[s]!) ?? { nll: [], tokens: [], bytes: [] };
      let nll = 0;
      let bytes = 0;
      for (let t = 0; t < b.seqLen; t++) {
        const i = s * b.seqLen + t;
        nll += loss[i]!;
        bytes += tokenBytes[b.targets[i]!]!;
      }
      acc.nll.push(nll);
      acc.tokens.push(b.seqLen);
      acc.bytes.push(bytes);
      per.set(b.sources[s]!, acc);
    }
  }
  const score = (a: { nll: number[]; tokens: number[]; bytes: number[] }) => {
    const loss = ratio(a.nll, a.tokens);
    const bpb = ratio(a.nll, a.bytes);
    return { loss: loss.value, bpb: bpb.value / Math.LN2, tokens: a.tokens.reduce((x, y) => x + y, 0), se: { loss: loss.se, bpb: bpb.se / Math.LN2 }, windows: a.nll.length };
  };
  const all = { nll: [] as number[], tokens: [] as number[], bytes: [] as number[] };
  const perSource: HeldoutScore["perSource"] = {};
  for (const [s, a] of [...per].sort(([x], [y]) => (x < y ? -1 : 1))) {
    perSource[s] = score(a);
    all.nll.push(...a.nll);
    all.tokens.push(...a.tokens);
    all.bytes.push(...a.bytes);
  }
  return { ...score(all), perSource };
}

/**
 * Sum of log-probabilities of `continuation` after `prompt`, in one forward pass over at most the model's
 * context (the prompt is cut from the left when both do not fit).
 */
export async function continuationLogProb(model: LanguageModel, prompt: number[], continuation: number[], window = model.config.contextLength): Promise<number> {
  const keep = Math.max(1, Math.min(prompt.length, window + 1 - continuation.length));
  const head = prompt.slice(prompt.length - keep);
  const ids = [...head, ...continuation];
  const inputs = Int32Array.from(ids.slice(0, -1));
  const targets = Int32Array.from(ids.slice(1));
  const tokenLoss = await model.tokenLoss({ inputs, targets, size: 1, seqLen: inputs.length });
  let lp = 0;
  for (let i = head.length - 1; i < tokenLoss.length; i++) lp -= tokenLoss[i]!;
  return lp;
}

/** One completion of one prompt. */
export async function generateOne(model: LanguageModel, prompt: ArrayLike<number>, opts: GenerateOptions): Promise<number[]> {
  return (await model.generate([Array.from(prompt)], opts))[0]!;
}
