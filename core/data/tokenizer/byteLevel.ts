/**
 * GPT-2's byte-level alphabet: every byte maps to a printable unicode character, so any UTF-8 text is a
 * string over 256 symbols and byte-level BPE never needs an unknown token (Radford et al. 2019).
 */

/** byte -> character, as in GPT-2's bytes_to_unicode(). */
export const BYTE_TO_CHAR: string[] = (() => {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const table = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = keep.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return table;
})();

/** character -> byte, the inverse of {@link BYTE_TO_CHAR}. */
export const CHAR_TO_BYTE: Map<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/**
 * The GPT-2 pre-tokenization pattern, which Hugging Face's ByteLevel pre-tokenizer applies with
 * `use_regex: true`. The trainer splits words with the same pattern so its merges apply at encode time.
 */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const encoder = new TextEncoder();

/** A word as its byte-level string. */
export function toByteLevel(word: string): string {
  let out = "";
  for (const b of encoder.encode(word)) out += BYTE_TO_CHAR[b];
  return out;
}
