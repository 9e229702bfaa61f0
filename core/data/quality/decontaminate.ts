/**
 * Decontamination by word 8-gram overlap between evaluation items and training documents. An 8-gram
 * that appears in more than `templateLimit` distinct evaluation items is a template phrase of a
 * generator or genre (e.g. "into 2 equal groups and keeps one group"), not evidence of a leaked item, and
 * is not indexed. The build step also ignores indexed 8-grams that are frequent in the training set.
 * (GPT-3 likewise ignored frequent n-grams; lm-evaluation-harness uses 13-grams.)
 */
import { words } from "./minhash.js";

export const DECONTAMINATION_N = 8;
/** Items with more distinctive 8-grams than this (about a page) are long documents. */
export const LONG_ITEM_NGRAMS = 500;
/** Share of a long item's 8-grams a training document must contain to count as a copy of it. */
export const LONG_ITEM_SHARE = 0.02;

/**
 * Words (3+ letters) an 8-gram needs to identify an item: runs of numbers and short tokens
 * ("step 2 6 2 3", "is true line 7 print 7") are arithmetic facts and trace syntax, not text.
 */
export const MIN_WORDS_IN_NGRAM = 5;

function distinctive(gram: string[]): boolean {
  let w = 0;
  for (const t of gram) if (/^\p{L}{3,}$/u.test(t)) w++;
  return w >= MIN_WORDS_IN_NGRAM;
}

/** The distinctive word n-grams of a text. */
export function ngramKeys(text: string, n: number): Set<string> {
  const w = words(text);
  const out = new Set<string>();
  for (let i = 0; i + n <= w.length; i++) {
    const g = w.slice(i, i + n);
    if (distinctive(g)) out.add(g.join(" "));
  }
  return out;
}

export class ContaminationIndex {
  /** Item-specific 8-grams -> id of an item containing it. */
  private readonly grams = new Map<string, string>();
  /** Distinctive 8-grams per item. */
  private readonly itemSize = new Map<string, number>();

  constructor(items: { id: string; text: string }[], readonly n = DECONTAMINATION_N, templateLimit = 2) {
    const seen = new Map<string, { id: string; count: number }>();
    for (const item of items) {
      const keys = ngramKeys(item.text, n);
      this.itemSize.set(item.id, keys.size);
      for (const g of keys) {
        const e = seen.get(g);
        if (e) e.count++;
        else seen.set(g, { id: item.id, count: 1 });
      }
    }
    for (const [g, e] of seen) if (e.count <= templateLimit) this.grams.set(g, e.id);
  }

  /** The held-out item an indexed n-gram came from. */
  itemOf(ngram: string): string | undefined {
    return this.grams.get(ngram);
  }

  /**
   * Shared 8-grams that make a document a copy of an item rather than a text that quotes a phrase: one
   * for items up to a page (a problem, a program, a licence), 2% of the item's 8-grams for long documents.
   */
  leakThreshold(item: string): number {
    const size = this.itemSize.get(item) ?? 0;
    return size <= LONG_ITEM_NGRAMS ? 1 : Math.floor(LONG_ITEM_SHARE * size);
  }

  get size(): number {
    return this.grams.size;
  }

  /** The first item-specific n-gram of `text` found in the index, with the item it came from. */
  match(text: string): { ngram: string; item: string } | undefined {
    const w = words(text);
    for (let i = 0; i + this.n <= w.length; i++) {
      const g = w.slice(i, i + this.n).join(" ");
      const item = this.grams.get(g);
      if (item) return { ngram: g, item };
    }
    return undefined;
  }

  /** Every item-specific n-gram of `text` found in the index (deduplicated, in order). */
  matchAll(text: string): string[] {
    const w = words(text);
    const out = new Set<string>();
    for (let i = 0; i + this.n <= w.length; i++) {
      const g = w.slice(i, i + this.n).join(" ");
      if (this.grams.has(g)) out.add(g);
    }
    return [...out];
  }
}
