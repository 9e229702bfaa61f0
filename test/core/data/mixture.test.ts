import { describe, expect, it } from "vitest";
import type { Document } from "../../../core/data/documents.js";
import type { BuiltGroup } from "../../../core/data/mixture/build.js";
import { curriculumBuckets, MixtureStream, WINDOW } from "../../../core/data/mixture/MixtureStream.js";
import { prepareMixture } from "../../../core/data/pipeline.js";
import { Tokenizer } from "../../../core/data/tokenizer/Tokenizer.js";
import { TOKENIZER } from "../../helpers/cli.js";

const tokenizer = Tokenizer.load(TOKENIZER);
const docs = (source: string, n: number): Document[] => Array.from({ length: n }, (_, i) => ({ id: `${source}/${i}`, source, text: `${source} document ${i}. `.repeat(20), meta: { difficulty: i % 7 } }));
const group = (name: string, weight: number, d: Document[], extra: Partial<BuiltGroup> = {}): BuiltGroup => ({ name, weight, replay: false, sources: [name], documents: d, ...extra });
const fourGroups = () => [group("specialist", 0.4, docs("spec", 30)), group("synthetic", 0.3, docs("syn", 30)), group("replay", 0.2, docs("rep", 30)), group("longform", 0.1, docs("long", 5))];

describe("MixtureStream", () => {
  it("keeps every group within 1% of its weight over any 1000-sequence window (stratified sampling)", () => {
    const s = new MixtureStream({ groups: fourGroups(), tokenizer, seqLen: 16, batchSize: 8, seed: 1 });
    for (let i = 0; i < 500; i++) s.next(); // 4000 sequences
    const audit = s.report();
    expect(audit.sequences).toBe(4000);
    for (const [g, a] of Object.entries(audit.groups)) {
      expect(Math.abs(a.realised - a.scheduled), g).toBeLessThan(0.001);
      expect(a.worstWindowDeviation!, g).toBeLessThan(0.01);
    }
    expect(audit.window).toBe(WINDOW);
  });

  it("keeps the recipe weights exactly when nothing changes them", () => {
    const s = new MixtureStream({ groups: fourGroups(), tokenizer, seqLen: 16, batchSize: 4, seed: 1 });
    for (let i = 0; i < 50; i++) s.next();
    expect(s.weights()).toEqual({ specialist: 0.4, synthetic: 0.3, replay: 0.2, longform: 0.1 });
  });

  it("resumes from a cursor with the same sequence order", () => {
    const mk = () => new MixtureStream({ groups: fourGroups(), tokenizer, seqLen: 16, batchSize: 4, seed: 5 });
    const straight = mk();
    const ids = Array.from({ length: 60 }, () => straight.next().samples.map((x) => x.id));
    const first = mk();
    for (let i = 0; i < 23; i++) first.next();
    const resumed = mk();
    resumed.restore(JSON.parse(JSON.stringify(first.cursor())));
    for (let i = 23; i < 60; i++) expect(resumed.next().samples.map((x) => x.id)).toEqual(ids[i]);
    expect(resumed.report()).toEqual(straight.report());
  });

  it("follows new weights from the next draw, and audits the scheduled share as their running mean", () => {
    const s = new MixtureStream({ groups: [group("a", 0.5, docs("a", 10)), group("b", 0.5, docs("b", 10))], tokenizer, seqLen: 16, batchSize: 10, seed: 1 });
    for (let i = 0; i < 10; i++) s.next();
    s.setWeights({ a: 3, b: 1 });
    for (let i = 0; i < 10; i++) s.next();
    const a = s.report().groups.a!;
    expect(a.weight).toBe(0.75);
    expect(a.scheduled).toBeCloseTo(0.625, 10);
    expect(a.realised).toBeCloseTo(0.625, 2);
    expect(() => s.setWeights({ a: 1 })).toThrow(/weight for group 'b' is undefined/);
  });

  it("runs a curriculum group easy to hard over the run", () => {
    const d = docs("syn", 40); // difficulty = i % 7
    const buckets = curriculumBuckets(d, { key: "difficulty", order: "easy-to-hard", buckets: 4 });
    expect(buckets.map((b) => b.length)).toEqual([10, 10, 10, 10]);
    for (let b = 1; b < 4; b++) expect(Math.min(...buckets[b]!.map((x) => x.meta!.difficulty!))).toBeGreaterThanOrEqual(Math.max(...buckets[b - 1]!.map((x) => x.meta!.difficulty!)));
    const s = new MixtureStream({ groups: [group("syn", 1, d, { curriculum: { key: "difficulty", order: "easy-to-hard", buckets: 4 } })], tokenizer, seqLen: 16, batchSize: 1, seed: 1 });
    const difficultyAt = (p: number) => {
      s.setProgress(p);
      const first = s.next().samples[0]!.documents[0]!;
      return d.find((x) => x.id === first)!.meta!.difficulty!;
    };
    expect(difficultyAt(0)).toBeLessThanOrEqual(1);
    expect(difficultyAt(0.99)).toBeGreaterThanOrEqual(5);
    expect(curriculumBuckets(d, { key: "difficulty", order: "hard-to-easy", buckets: 4 })[0]![0]!.meta!.difficulty).toBe(6);
  });

  it("the default recipe realises its 40/30/20/10 split within 1% over a default-length run", () => {
    const { mixture } = prepareMixture("bundled");
    const s = new MixtureStream({ groups: mixture.groups, tokenizer, seqLen: 128, batchSize: 8, seed: 1234 });
    for (let i = 0; i < 200; i++) s.next();
    const audit = s.report();
    expect(s.weights()).toEqual({ specialist: 0.4, synthetic: 0.3, replay: 0.2, longform: 0.1 });
    expect(audit.sequences).toBe(1600);
    for (const a of Object.values(audit.groups)) {
      expect(Math.abs(a.realised - a.scheduled)).toBeLessThan(0.01);
      expect(a.worstWindowDeviation!).toBeLessThan(0.01);
    }
  });
});
