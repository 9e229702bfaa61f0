/**
 * Document quality filters. Each returns the reason a document fails, or undefined when it passes.
 * - length: too few words or characters;
 * - repeated n-grams (OLMo 2): a span where an n-gram of period <= 13 words repeats >= 32 times in a row;
 * - character ratios: too few letters, or too many digits or symbols, for prose.
 */
import { words } from "./minhash.js";

export interface FilterOptions {
  minWords: number;
  minChars: number;
  /** Longest repeat period, in words (OLMo 2: 13). */
  repeatMaxPeriod: number;
  /** Repeats in a row that mark a document as degenerate (OLMo 2: 32). */
  repeatMinCount: number;
  /** Minimum share of letters among non-space characters (0 disables). */
  minAlphaRatio: number;
  /** Maximum share of digits among non-space characters (1 disables). */
  maxDigitRatio: number;
}

export const DEFAULT_FILTERS: FilterOptions = { minWords: 8, minChars: 40, repeatMaxPeriod: 13, repeatMinCount: 32, minAlphaRatio: 0.5, maxDigitRatio: 0.3 };

export type FilterName = "length" | "repeated-ngrams" | "char-ratio";

/** The longest run of consecutive repeats of any n-gram with period <= maxPeriod, in repeats. */
export function longestRepeat(tokens: string[], maxPeriod: number): { period: number; count: number } {
  let best = { period: 0, count: 1 };
  for (let p = 1; p <= maxPeriod; p++) {
    let run = 0; // positions i where tokens[i] === tokens[i - p], consecutively
    for (let i = p; i < tokens.length; i++) {
      run = tokens[i] === tokens[i - p] ? run + 1 : 0;
      const count = Math.floor(run / p) + 1;
      if (count > best.count) best = { period: p, count };
    }
  }
  return best;
}

export function checkDocument(text: string, opts: FilterOptions): { filter: FilterName; detail: string } | undefined {
  const w = words(text);
  if (w.length < opts.minWords || text.length < opts.minChars) return { filter: "length", detail: `${w.length} words, ${text.length} chars` };
  const rep = longestRepeat(w, opts.repeatMaxPeriod);
  if (rep.count >= opts.repeatMinCount) return { filter: "repeated-ngrams", detail: `a ${rep.period}-gram repeats ${rep.count} times` };
  let letters = 0;
  let digits = 0;
  let visible = 0;
  for (const ch of text) {
    if (/\s/u.test(ch)) continue;
    visible++;
    if (/\p{L}/u.test(ch)) letters++;
    else if (/\p{N}/u.test(ch)) digits++;
  }
  if (visible && letters / visible < opts.minAlphaRatio) return { filter: "char-ratio", detail: `letters ${(letters / visible).toFixed(2)} < ${opts.minAlphaRatio}` };
  if (visible && digits / visible > opts.maxDigitRatio) return { filter: "char-ratio", detail: `digits ${(digits / visible).toFixed(2)} > ${opts.maxDigitRatio}` };
  return undefined;
}
