/**
 * The data that crosses between the training loop and an engine. None of it is a tensor: token ids and
 * numbers in typed arrays, loss terms as declarations an engine computes inside its own gradient. The same
 * values travel in process (TensorFlow.js) and over the wire to the PyTorch engine (protocol.ts).
 */

/** Rows of token ids for teacher-forced scoring or training: `inputs` and `targets` row-major [size, seqLen]. */
export interface TokenRows {
  inputs: Int32Array;
  targets: Int32Array;
  size: number;
  seqLen: number;
}

/** Token positions of one half of a document span, for mean pooling of hidden states. */
export interface PooledSpan {
  row: number;
  /** First position (inclusive) and end (exclusive) within the row. */
  from: number;
  to: number;
}

/** Sampled completions packed for a REINFORCE term (see the `irl` plugin). */
export interface Rollouts extends TokenRows {
  /** 1 on target positions that are sampled tokens, 0 elsewhere (prompt and padding). */
  mask: Float32Array;
  /** Advantage of each row. */
  advantages: Float32Array;
  /** The reference model's log-probabilities of the targets, for the KL term. */
  refLogp?: Float32Array;
  /** Sampled tokens (the mean's denominator). */
  tokens: number;
}

/**
 * A loss term added to the language-model loss inside the gradient. Terms are declarations so that every
 * engine can compute them; the value is already weighted, added to the loss, differentiated, and logged as
 * `terms.<name>`.
 * - `masked-nll`: weight x mean token cross-entropy of the batch over the positions where `mask` is 1
 *   (agentic's outcome-conditioned loss).
 * - `infonce`: weight x symmetric InfoNCE (van den Oord et al. 2018) between mean-pooled final hidden states
 *   of `first[i]` and `second[i]`, against the other pairs of the batch at `temperature` (contrastive).
 * - `reinforce`: weight x (REINFORCE on the rollouts' sampled tokens, -sum A log p / tokens, plus
 *   klWeight x the k3 KL estimate to the reference, exp(r - l) - (r - l) - 1) (irl). Its KL is reported
 *   in the step's term details.
 * - `nan`: the loss times NaN (fault injection: `--inject nan@STEP`).
 */
export type LossTerm =
  | { kind: "masked-nll"; name: string; weight: number; mask: Float32Array }
  | { kind: "infonce"; name: string; weight: number; temperature: number; first: PooledSpan[]; second: PooledSpan[] }
  | { kind: "reinforce"; name: string; weight: number; klWeight: number; rollouts: Rollouts }
  | { kind: "nan"; name: string };

export type LossTermKind = LossTerm["kind"];

/** What one forward and backward pass measured; the gradients stay in the engine until update or discard. */
export interface BackwardResult {
  /** Mean language-model cross-entropy of the batch (nats/token). */
  loss: number;
  /** Everything that was differentiated: loss + z-loss + terms. */
  totalLoss: number;
  /** Each term's weighted value, z-loss included (`zLoss`). */
  terms: Record<string, number>;
  /** Extra numbers a term reports, e.g. `{ irl: { kl: 0.01 } }`. */
  termDetails: Record<string, Record<string, number>>;
  /** Mean loss of each sequence, in batch order. */
  sequenceLoss: Float32Array;
  /** Global L2 norm of the gradients, before clipping. */
  gradNorm: number;
}

export interface UpdateResult {
  /** L2 norm of the applied parameter change. */
  updateNorm: number;
}

/** Decoding options, the same for every engine and model source. */
export interface GenerateOptions {
  maxTokens: number;
  /** 0 for greedy (the default). */
  temperature?: number;
  /** Seed of the sampling stream; the same seed and inputs give the same samples on one engine. */
  seed?: number;
  /** Token ids that end a completion (not included in it). */
  stopTokens?: number[];
  /** A regular expression (JavaScript and Python syntax alike) that ends a completion once its decoded text matches. */
  stopPattern?: string;
  /** Context window for the prompt (its last tokens are kept); default: the model's context. */
  window?: number;
}
