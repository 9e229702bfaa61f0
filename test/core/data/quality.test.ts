import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildMixture } from "../../../core/data/mixture/build.js";
import { resolveRecipe } from "../../../core/data/mixture/recipe.js";
import { prepareMixture } from "../../../core/data/pipeline.js";
import { ngramKeys } from "../../../core/data/quality/decontaminate.js";
import { checkDocument, DEFAULT_FILTERS, longestRepeat } from "../../../core/data/quality/filters.js";
import { jaccard, MinHasher, nearDuplicateClusters, words } from "../../../core/data/quality/minhash.js";
import { tempDir } from "../../helpers/cli.js";

/** Pseudo-prose of letter-only words, different for each seed. */
const prose = (seed: number, n = 120) =>
  Array.from({ length: n }, (_, i) => {
    let x = (i * 7919 + seed * 104729) % 997;
    let w = "";
    do {
      w += String.fromCharCode(97 + (x % 26));
      x = Math.floor(x / 26);
    } while (x > 0);
    return w + "e";
  }).join(" ");

describe("near-duplicate detection (MinHash LSH, 14 bands x 8 rows)", () => {
  it("estimates Jaccard similarity within 0.1", () => {
    const h = new MinHasher();
    const base = prose(1, 400);
    const edited = base.split(" ").map((w, i) => (i % 9 === 0 ? "changed" : w)).join(" ");
    const truth = jaccard(base, edited);
    expect(Math.abs(MinHasher.similarity(h.signature(base), h.signature(edited)) - truth)).toBeLessThan(0.1);
  });

  it("clusters near-duplicates and leaves distinct documents alone", () => {
    const a = prose(1, 300);
    const a2 = a.split(" ").map((w, i) => (i === 40 ? "extra " + w : w)).join(" ");
    const b = prose(2, 300);
    const { clusters } = nearDuplicateClusters([a, b, a2]);
    expect(clusters).toEqual([[0, 2]]);
  });
});

describe("filters", () => {
  it("flags a repeated n-gram run (OLMo 2: period <= 13, >= 32 repeats)", () => {
    const spam = `intro text here ${"buy cheap pills now ".repeat(40)} end`;
    expect(longestRepeat(words(spam), 13)).toEqual({ period: 4, count: 40 });
    expect(checkDocument(spam, DEFAULT_FILTERS)).toMatchObject({ filter: "repeated-ngrams" });
    expect(checkDocument("too short", DEFAULT_FILTERS)).toMatchObject({ filter: "length" });
    expect(checkDocument("1234 5678 9012 3456 7890 1234 5678 9012 3456 7890 and a few words", DEFAULT_FILTERS)).toMatchObject({ filter: "char-ratio" });
    expect(checkDocument(prose(3), DEFAULT_FILTERS)).toBeUndefined();
  });
});

describe("build", () => {
  it("removes every injected exact duplicate, including case and whitespace variants", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "docs"));
    const originals = [1, 2, 3, 4, 5, 6].map((i) => `Original document number ${i}. ${prose(i)}`);
    originals.forEach((t, i) => writeFileSync(join(dir, "docs", `o${i}.txt`), t));
    writeFileSync(join(dir, "docs", "z-dup1.txt"), originals[0]!);
    writeFileSync(join(dir, "docs", "z-dup2.txt"), originals[1]!.toUpperCase());
    writeFileSync(join(dir, "docs", "z-dup3.txt"), originals[2]!.replace(/ /g, "  \n "));
    const { recipe } = resolveRecipe({ heldoutShare: 0.0001, groups: [{ name: "g", weight: 1, sources: [{ name: "mine", type: "text", path: join(dir, "docs") }] }], quality: { nearDedup: false, decontaminate: false } }, "test");
    const built = buildMixture(recipe);
    expect(built.report.mine).toMatchObject({ loaded: 9, removed: { "exact-duplicate": 3 }, kept: 6 });
    expect(built.groups[0]!.documents.map((d) => d.id).sort()).toEqual([0, 1, 2, 3, 4, 5].map((i) => `mine/o${i}.txt`));
  });

  it("finds the near-duplicate licence families in SPDX", () => {
    const { recipe } = resolveRecipe({ groups: [{ name: "legal", weight: 1, sources: ["spdx"] }], quality: { decontaminate: false } }, "test");
    const built = buildMixture(recipe);
    expect(built.nearDuplicateClusters.length).toBeGreaterThan(20);
    const gpl = built.nearDuplicateClusters.find((c) => [c.kept, ...c.removed].some((id) => id.startsWith("spdx/GPL-3.0") || id.startsWith("spdx/AGPL-3.0")));
    expect(gpl).toBeDefined();
    expect(built.report.spdx!.removed["near-duplicate"]).toBe(built.nearDuplicateClusters.reduce((a, c) => a + c.removed.length, 0));
  });

  it("leaves zero item-specific 8-gram overlap between probe items and training data (default recipe)", () => {
    const { mixture } = prepareMixture("bundled");
    const probes = ["synthetic-math", "synthetic-code"].flatMap((s) => mixture.heldout[s]!);
    expect(probes.length).toBeGreaterThan(300);
    // Item-specific: in at most two probe items (template phrases of a generator are in hundreds).
    const count = new Map<string, number>();
    for (const p of probes) for (const g of ngramKeys(p.text, 8)) count.set(g, (count.get(g) ?? 0) + 1);
    const specific = new Set([...count].filter(([, c]) => c <= 2).map(([g]) => g));
    // Rare in training too: an 8-gram found in more than 10 training documents is a formula, not a leak.
    const trainDocs = mixture.groups.flatMap((g) => g.documents);
    const inTraining = new Map<string, number>();
    for (const d of trainDocs) for (const g of ngramKeys(d.text, 8)) if (specific.has(g)) inTraining.set(g, (inTraining.get(g) ?? 0) + 1);
    const leaks = [...inTraining].filter(([, n]) => n <= 10);
    expect(leaks.slice(0, 3).map(([g, n]) => `${g} x${n}`)).toEqual([]);
    expect(mixture.report["synthetic-math"]!.removed.contaminated).toBeGreaterThan(0);
  });
});
