/** What the trainer consumes each step. */

/** Provenance of one packed sequence: enough to find and skip the exact data again. */
export interface SampleInfo {
  /** Stable id of the sequence: `e<epoch>:<first document id>@<token offset>`. */
  id: string;
  /** Source label of the sequence (the source with the most tokens in it). */
  source: string;
  /** Mixture group the sequence was drawn from, when the data is a mixture. */
  group?: string;
  /** Ids of the documents the sequence spans, in order. */
  documents: string[];
  /** Positions (0-based, in the input) where a new document starts. */
  boundaries: number[];
}

export interface Batch {
  /** Sequences in the batch (B). */
  size: number;
  /** Tokens per sequence (T). */
  seqLen: number;
  /** Input ids, row-major [B, T]. */
  inputs: Int32Array;
  /** Next-token targets, row-major [B, T]. */
  targets: Int32Array;
  /** One entry per sequence. */
  samples: SampleInfo[];
}

/** A deterministic, resumable source of batches. */
export interface BatchSource {
  next(): Batch;
  /** Serialisable position; `restore(cursor)` continues with the very next batch. */
  cursor(): DataCursor;
  restore(cursor: DataCursor): void;
  /** Never yield these sequences (by sample id): a data window skipped after a rollback. */
  skip?(ids: Iterable<string>): void;
}

export type DataCursor = Record<string, unknown>;

/** A batch of B sequences of T tokens from a source of single sequences (T+1 tokens each). */
export function assembleBatch(nextSequence: (window: Int32Array) => SampleInfo, batchSize: number, seqLen: number): Batch {
  const inputs = new Int32Array(batchSize * seqLen);
  const targets = new Int32Array(batchSize * seqLen);
  const window = new Int32Array(seqLen + 1);
  const samples: SampleInfo[] = [];
  for (let b = 0; b < batchSize; b++) {
    samples.push(nextSequence(window));
    inputs.set(window.subarray(0, seqLen), b * seqLen);
    targets.set(window.subarray(1, seqLen + 1), b * seqLen);
  }
  return { size: batchSize, seqLen, inputs, targets, samples };
}
