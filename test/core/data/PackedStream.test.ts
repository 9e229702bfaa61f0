import { describe, expect, it } from "vitest";
import type { Document } from "../../../core/data/documents.js";
import { PackedStream } from "../../../core/data/PackedStream.js";
import { isHeldOut, loadBrown, untagBrown } from "../../../core/data/sources/general.js";
import { Tokenizer } from "../../../core/data/tokenizer/Tokenizer.js";
import { trainBpe } from "../../../core/data/tokenizer/trainBpe.js";

const docs: Document[] = Array.from({ length: 9 }, (_, i) => ({ id: `${i % 2 ? "odd" : "even"}/doc${i}`, source: i % 2 ? "odd" : "even", text: `Document number ${i}. `.repeat(3 + i * 2) }));
const tok = new Tokenizer(trainBpe(docs.map((d) => d.text), { vocabSize: 300, minWordCount: 1 }));
const make = (seed = 1) => new PackedStream({ documents: docs, tokenizer: tok, seqLen: 16, batchSize: 3, seed });

describe("PackedStream", () => {
  it("packs documents with EOS separators into T inputs and shifted targets", () => {
    const b = make().next();
    expect(b.inputs.length).toBe(48);
    for (let i = 0; i < 15; i++) expect(b.targets[i]).toBe(b.inputs[i + 1]);
    const all = Array.from(b.inputs);
    expect(all).toContain(tok.eosId);
    expect(b.samples[0]!.id).toMatch(/^e0:(odd|even)\/doc\d@0$/);
  });

  it("is deterministic for a seed and differs across seeds", () => {
    const a = make(1);
    const b = make(1);
    const c = make(2);
    const A = Array.from({ length: 5 }, () => Array.from(a.next().inputs));
    expect(Array.from({ length: 5 }, () => Array.from(b.next().inputs))).toEqual(A);
    expect(Array.from({ length: 5 }, () => Array.from(c.next().inputs))).not.toEqual(A);
  });

  it("resumes from a cursor with the very next sequence, across epoch ends", () => {
    const straight = make();
    const seqs = Array.from({ length: 40 }, () => straight.next());
    const first = make();
    for (let i = 0; i < 17; i++) first.next();
    const cursor = JSON.parse(JSON.stringify(first.cursor()));
    const resumed = make();
    resumed.restore(cursor);
    for (let i = 17; i < 40; i++) {
      const b = resumed.next();
      expect(Array.from(b.inputs)).toEqual(Array.from(seqs[i]!.inputs));
      expect(b.samples.map((s) => s.id)).toEqual(seqs[i]!.samples.map((s) => s.id));
    }
    expect(resumed.cursor().epoch).toBeGreaterThan(0); // 40 batches crossed at least one epoch
  });

  it("covers the token stream exactly once per epoch with stride T (no repeats, no gaps)", () => {
    const s = new PackedStream({ documents: docs, tokenizer: tok, seqLen: 16, batchSize: 1, seed: 3, shuffle: false });
    const stream: number[] = [];
    for (const d of docs) stream.push(...tok.encode(d.text), tok.eosId);
    const seen: number[] = [];
    while (seen.length + 16 <= stream.length) seen.push(...s.next().inputs);
    expect(seen).toEqual(stream.slice(0, seen.length));
  });

  it("labels each sequence with its majority source and marks document boundaries", () => {
    const b = new PackedStream({ documents: docs, tokenizer: tok, seqLen: 64, batchSize: 4, seed: 3, shuffle: false }).next();
    for (const s of b.samples) expect(["odd", "even"]).toContain(s.source);
    const withBoundary = b.samples.find((s) => s.boundaries.length > 0)!;
    expect(withBoundary.documents.length).toBeGreaterThan(1);
  });

  it("rejects a cursor from different data", () => {
    expect(() => make().restore({ epoch: 0, doc: 99, offset: 0, emitted: 0 })).toThrow(/data changed since the checkpoint/);
  });
});

describe("general sources", () => {
  it("untags Brown text into plain prose", () => {
    expect(untagBrown("The/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, didn't/dod* ./.")).toBe('The jury said "no evidence", didn\'t.');
    const brown = loadBrown();
    expect(brown.length).toBe(500);
    expect(brown[0]!.text).not.toMatch(/\/(at|nn|vbd)\b/);
  });

  it("holds out whole documents by a stable hash of the id", () => {
    const ids = Array.from({ length: 2000 }, (_, i) => `x/${i}`);
    const share = ids.filter((id) => isHeldOut(id, 0.05)).length / ids.length;
    expect(share).toBeGreaterThan(0.035);
    expect(share).toBeLessThan(0.065);
    expect(isHeldOut("sotu/1790_george_washington_n", 0.05)).toBe(isHeldOut("sotu/1790_george_washington_n", 0.05));
  });
});
