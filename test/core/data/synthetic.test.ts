/**
 * The long-context synthetic sources: retrieval units recall every fact they state, by key, in a shuffled
 * order; copy documents repeat their list exactly. Both are deterministic in the seed.
 */
import { describe, expect, it } from "vitest";
import { copyDocuments } from "../../../core/data/synthetic/copy.js";
import { retrievalDocuments } from "../../../core/data/synthetic/retrieval.js";

const FACT = /The special magic number for (\S+) is: (\d{4})\./g;

describe("long-context synthetic sources", () => {
  it("retrieval units ask for every fact they state, with its value, in a random order, some twice in a row", () => {
    const docs = retrievalDocuments(3, 40);
    let units = 0;
    let reordered = 0;
    let multi = 0;
    let again = 0;
    let adjacent = 0;
    for (const d of docs) {
      for (const u of d.text.split("\n\n")) {
        const [body, ...questions] = u.split("\n");
        const stated = [...body!.matchAll(FACT)].map((m) => [m[1], m[2]]);
        const asked = questions.map((q) => [...q.matchAll(FACT)].map((m) => [m[1], m[2]])[0]);
        expect(stated.length).toBeGreaterThanOrEqual(1);
        expect(stated.length).toBeLessThanOrEqual(4);
        expect(new Set(stated.map((f) => f![0])).size).toBe(stated.length);
        const key = (f: (string | undefined)[] | undefined) => JSON.stringify(f);
        expect([...new Set(asked.map(key))].sort()).toEqual(stated.map(key).sort());
        expect(asked.length).toBeLessThanOrEqual(2 * stated.length);
        if (asked.length > stated.length) again++;
        if (asked.some((q, i) => i > 0 && key(q) === key(asked[i - 1]))) adjacent++;
        units++;
        if (stated.length > 1) multi++;
        if (JSON.stringify(asked) !== JSON.stringify(stated)) reordered++;
      }
    }
    expect(units).toBe(160);
    expect(multi).toBeGreaterThan(80);
    expect(reordered).toBeGreaterThan(40);
    // A recall line sometimes follows one with the same key, so "the line before has another key" is no rule.
    expect(again).toBeGreaterThan(60);
    expect(adjacent).toBeGreaterThan(20);
    expect(adjacent).toBeLessThan(again);
    expect(retrievalDocuments(3, 2)).toEqual(docs.slice(0, 2));
  });

  it("copy documents repeat their list exactly, from a few items to about forty", () => {
    const docs = copyDocuments(5, 200);
    const lengths = docs.map((d) => {
      const m = d.text.match(/^List: (.*)\.\nThe same list again: (.*)\.$/);
      expect(m).not.toBeNull();
      expect(m![2]).toBe(m![1]);
      return m![1]!.split(", ").length;
    });
    expect(Math.min(...lengths)).toBe(4);
    expect(Math.max(...lengths)).toBe(40);
    expect(copyDocuments(5, 3)).toEqual(docs.slice(0, 3));
    expect(copyDocuments(6, 1)[0]!.text).not.toBe(docs[0]!.text);
  });
});
