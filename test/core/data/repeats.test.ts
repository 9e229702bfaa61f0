/**
 * The copying and induction sources the base is pretrained with: echo lines repeat the line before them;
 * recurrence passages carry short spans of their own words again later, unmarked. Both are deterministic
 * in the seed.
 */
import { describe, expect, it } from "vitest";
import { echoDocuments, recurrenceDocuments } from "../../../core/data/synthetic/repeats.js";
import { fillerSentences } from "../../../core/data/synthetic/filler.js";

/** Length in words of the longest run of `words` that also occurs later in `words` (not overlapping). */
function longestRecurrence(words: string[]): number {
  let best = 0;
  for (let i = 0; i < words.length; i++) {
    for (let j = i + 1; j < words.length; j++) {
      let n = 0;
      while (j + n < words.length && i + n < j && words[i + n] === words[j + n]) n++;
      best = Math.max(best, n);
    }
  }
  return best;
}

describe("copying and induction sources", () => {
  it("echo units are a run of 4 to 16 words followed by itself", () => {
    const docs = echoDocuments(4, 30);
    const lengths: number[] = [];
    for (const d of docs) {
      const units = d.text.split("\n\n");
      expect(units).toHaveLength(12);
      for (const u of units) {
        const [a, b, ...rest] = u.split("\n");
        expect(rest).toHaveLength(0);
        expect(b).toBe(a);
        lengths.push(a!.split(" ").length);
      }
    }
    expect(Math.min(...lengths)).toBe(4);
    expect(Math.max(...lengths)).toBe(16);
    expect(echoDocuments(4, 2)).toEqual(docs.slice(0, 2));
    expect(echoDocuments(5, 2)).not.toEqual(docs.slice(0, 2));
  });

  it("recurrence passages repeat spans of at least 3 words that plain filler does not", () => {
    const docs = recurrenceDocuments(6, 10);
    const passages = docs.flatMap((d) => d.text.split("\n\n"));
    expect(passages).toHaveLength(60);
    const withRecurrence = passages.filter((p) => longestRecurrence(p.split(" ")) >= 3).length;
    expect(withRecurrence).toBe(60);
    // The filler alone seldom repeats three words in a row within a passage's length.
    const plain = fillerSentences().slice(0, 600);
    let repeats = 0;
    for (let i = 0; i < 60; i++) if (longestRecurrence(plain.slice(i * 4, i * 4 + 4).join(" ").split(" ")) >= 3) repeats++;
    expect(repeats).toBeLessThan(20);
    expect(recurrenceDocuments(6, 2)).toEqual(docs.slice(0, 2));
  });
});
