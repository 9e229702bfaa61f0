/**
 * The data a run trains and evaluates on. For now: a packed stream over the general-English corpora
 * (training documents only) and a fixed set of held-out batches built from whole held-out documents.
 */
import type { EffectiveConfig } from "../config/types.js";
import type { Batch, BatchSource } from "./batch.js";
import { PackedStream } from "./PackedStream.js";
import { generalSplit } from "./sources/general.js";
import type { Tokenizer } from "./tokenizer/Tokenizer.js";

export interface RunData {
  train: BatchSource;
  /** Fixed held-out batches (same every evaluation). */
  heldout: Batch[];
}

export function buildRunData(config: EffectiveConfig, tokenizer: Tokenizer, seqLen: number): RunData {
  const split = generalSplit(config.data.sources, config.data.heldoutShare);
  const train = new PackedStream({ documents: split.train, tokenizer, seqLen, batchSize: config.data.batchSize, seed: config.seed });
  const held = new PackedStream({ documents: split.heldout, tokenizer, seqLen, batchSize: config.data.batchSize, seed: config.seed, shuffle: false });
  const heldout = Array.from({ length: config.eval.batches }, () => held.next());
  return { train, heldout };
}
