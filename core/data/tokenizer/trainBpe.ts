/**
 * A deterministic byte-level BPE trainer (Sennrich et al. 2016; GPT-2's byte-level variant) that writes a
 * Hugging Face `tokenizer.json`. Hugging Face's trainer lives in the Rust `tokenizers` crate with no
 * JavaScript binding that installs offline, so mtx trains its own; loading and encoding go through the
 * maintained @huggingface/tokenizers library.
 *
 * Algorithm: count pre-tokenized words, then repeatedly merge the most frequent adjacent symbol pair
 * (ties broken by the lower pair of ids, so the result depends only on the text). Pair counts are updated
 * incrementally for the words that contain the merged pair.
 */
import { BYTE_TO_CHAR, GPT2_PATTERN, toByteLevel } from "./byteLevel.js";

export interface BpeTrainOptions {
  vocabSize: number;
  /** Special tokens, given the first ids (default: `<|endoftext|>` at id 0). */
  specialTokens?: string[];
  /** Words seen fewer times are ignored (default 2: hapaxes rarely deserve merges). */
  minWordCount?: number;
}

/** A Hugging Face tokenizer.json object (the subset mtx writes). */
export interface TokenizerJson {
  version: string;
  added_tokens: { id: number; content: string; single_word: boolean; lstrip: boolean; rstrip: boolean; normalized: boolean; special: boolean }[];
  normalizer: null;
  pre_tokenizer: { type: "ByteLevel"; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  post_processor: null;
  decoder: { type: "ByteLevel"; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  model: { type: "BPE"; dropout: null; unk_token: null; continuing_subword_prefix: null; end_of_word_suffix: null; fuse_unk: boolean; byte_fallback: boolean; vocab: Record<string, number>; merges: string[] };
  [key: string]: unknown;
}

const PAIR = 1 << 16;

/** Train on an iterable of documents. */
export function trainBpe(documents: Iterable<string>, options: BpeTrainOptions): TokenizerJson {
  const specials = options.specialTokens ?? ["<|endoftext|>"];
  const minCount = options.minWordCount ?? 2;
  const base = specials.length + 256;
  if (options.vocabSize < base) throw new Error(`vocabSize must be at least ${base} (256 bytes + special tokens)`);
  if (options.vocabSize > PAIR) throw new Error(`vocabSize must be at most ${PAIR}`);

  const symbols: string[] = [...specials, ...BYTE_TO_CHAR];
  const byteId = new Map<string, number>(BYTE_TO_CHAR.map((c, i) => [c, specials.length + i]));

  // 1. Word counts over byte-level pre-tokens.
  const counts = new Map<string, number>();
  for (const doc of documents) {
    for (const m of doc.matchAll(GPT2_PATTERN)) {
      const w = toByteLevel(m[0]);
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  const sortedWords = [...counts.entries()].filter(([, c]) => c >= minCount).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const words: number[][] = sortedWords.map(([w]) => Array.from(w, (ch) => byteId.get(ch)!));
  const freq: number[] = sortedWords.map(([, c]) => c);

  // 2. Pair statistics.
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addWord = (wi: number, sign: 1 | -1) => {
    const w = words[wi]!;
    for (let i = 0; i + 1 < w.length; i++) {
      const key = w[i]! * PAIR + w[i + 1]!;
      pairCount.set(key, (pairCount.get(key) ?? 0) + sign * freq[wi]!);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(wi);
      }
    }
  };
  for (let wi = 0; wi < words.length; wi++) addWord(wi, 1);

  // 3. Merges.
  const merges: string[] = [];
  while (symbols.length < options.vocabSize) {
    let best = -1;
    let bestCount = 0;
    for (const [key, c] of pairCount) {
      if (c > bestCount || (c === bestCount && c > 0 && key < best)) {
        best = key;
        bestCount = c;
      }
    }
    if (best < 0 || bestCount < 1) break;
    const a = Math.floor(best / PAIR);
    const b = best % PAIR;
    const id = symbols.length;
    symbols.push(symbols[a]! + symbols[b]!);
    merges.push(`${symbols[a]} ${symbols[b]}`);
    const touched = [...(pairWords.get(best) ?? [])].sort((x, y) => x - y);
    for (const wi of touched) {
      addWord(wi, -1);
      const w = words[wi]!;
      const next: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          next.push(id);
          i++;
        } else next.push(w[i]!);
      }
      words[wi] = next;
      addWord(wi, 1);
    }
    pairCount.delete(best);
    pairWords.delete(best);
  }

  const vocab: Record<string, number> = {};
  symbols.forEach((s, i) => (vocab[s] = i));
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}
