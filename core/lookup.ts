/**
 * Lookups of user-given names in the built-in tables (plugins, probes, sources, suites): own keys only, so
 * `toString`, `constructor` or `__proto__` are unknown names rather than Object.prototype's members; and
 * a "did you mean" for near misses (Levenshtein distance, fastest-levenshtein).
 */
import { distance } from "fastest-levenshtein";

/** `table[key]` when `key` is one of the table's own keys, else undefined. */
export function ownEntry<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** The closest candidate within a small edit distance (a third of the input's length, at least 2). */
export function closest(input: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const limit = Math.max(2, Math.floor(input.length / 3));
  for (const c of candidates) {
    const d = distance(input.toLowerCase(), c.toLowerCase());
    if (d < bestDistance && d <= limit) [best, bestDistance] = [c, d];
  }
  return best;
}

/** " (did you mean 'x'?)" or "". */
export function didYouMean(input: string, candidates: Iterable<string>, quote = (s: string) => `'${s}'`): string {
  const c = closest(input, candidates);
  return c === undefined ? "" : ` (did you mean ${quote(c)}?)`;
}
