/**
 * The tokenizer used everywhere in mtx: a Hugging Face `tokenizer.json` loaded with @huggingface/tokenizers.
 * Adds what training needs on top: the vocabulary size, the end-of-text id, and each token's length in
 * UTF-8 bytes (for tokenizer-independent bits per byte).
 */
import { readFileSync } from "node:fs";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { DataError } from "../../errors.js";
import { CHAR_TO_BYTE } from "./byteLevel.js";
import type { TokenizerJson } from "./trainBpe.js";

export const EOS_TOKEN = "<|endoftext|>";

export class Tokenizer {
  private readonly hf: HfTokenizer;
  readonly vocabSize: number;
  readonly eosId: number;
  /** UTF-8 byte length of each token id (0 for special tokens). */
  readonly tokenBytes: Int32Array;

  constructor(readonly json: TokenizerJson) {
    this.hf = new HfTokenizer(json, { clean_up_tokenization_spaces: false });
    const vocab = json.model.vocab;
    this.vocabSize = Object.keys(vocab).length;
    const eos = vocab[EOS_TOKEN];
    if (eos === undefined) throw new DataError(`tokenizer has no '${EOS_TOKEN}' token`);
    this.eosId = eos;
    this.tokenBytes = new Int32Array(this.vocabSize);
    const special = new Set(json.added_tokens.map((t) => t.id));
    for (const [tok, id] of Object.entries(vocab)) {
      if (special.has(id)) continue;
      let n = 0;
      for (const ch of tok) if (CHAR_TO_BYTE.has(ch)) n++;
      this.tokenBytes[id] = n;
    }
  }

  /** Load a tokenizer.json file. */
  static load(path: string): Tokenizer {
    let json: TokenizerJson;
    try {
      json = JSON.parse(readFileSync(path, "utf8")) as TokenizerJson;
    } catch (cause) {
      throw new DataError(`cannot read tokenizer '${path}': ${(cause as Error).message}`, { cause });
    }
    if (json?.model?.type !== "BPE" || typeof json.model.vocab !== "object") {
      throw new DataError(`'${path}' is not a byte-level BPE tokenizer.json (model.type must be "BPE")`);
    }
    return new Tokenizer(json);
  }

  /** Token ids of a text (no special tokens added). */
  encode(text: string): Int32Array {
    if (text.length === 0) return new Int32Array(0);
    return Int32Array.from(this.hf.encode(text, { add_special_tokens: false }).ids);
  }

  /** The text of token ids (special tokens are kept as text). */
  decode(ids: ArrayLike<number>): string {
    if (ids.length === 0) return "";
    return this.hf.decode(Array.from(ids), { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  /** UTF-8 bytes covered by the given ids. */
  countBytes(ids: ArrayLike<number>): number {
    let n = 0;
    for (let i = 0; i < ids.length; i++) n += this.tokenBytes[ids[i]!]!;
    return n;
  }
}
