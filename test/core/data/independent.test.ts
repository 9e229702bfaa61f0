/**
 * Checks of the data pipeline that do not trust its own bookkeeping: the mixture's 1% window recounted
 * from the drawn samples, a planted leak of a held-out item removed by decontamination, a near-duplicate
 * pair either side of the 0.72 threshold, and the curriculum's real minimum share.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { validateConfig } from "../../../core/config/loadConfig.js";
import { buildMixture } from "../../../core/data/mixture/build.js";
import { resolveRecipe } from "../../../core/data/mixture/recipe.js";
import { buildRunData } from "../../../core/data/pipeline.js";
import { jaccard, nearDuplicateClusters } from "../../../core/data/quality/minhash.js";
import { Tokenizer } from "../../../core/data/tokenizer/Tokenizer.js";
import { updateWeights } from "../../../plugins/methods/curriculum.js";
import { tempDir, TINY_RECIPE, TOKENIZER } from "../../helpers/cli.js";

/** Pseudo-prose of distinct letter-only words. */
const prose = (seed: number, n: number) =>
  Array.from({ length: n }, (_, i) => {
    let x = (i * 7919 + seed * 104729) % 99991;
    let w = "";
    do {
      w += String.fromCharCode(97 + (x % 26));
      x = Math.floor(x / 26);
    } while (x > 0);
    return w + "o";
  });

describe("the mixture, recounted from its samples", () => {
  it("keeps each group within 1% of its weight over every 1000-sequence window", () => {
    const config = validateConfig({ from: null, tokenizer: TOKENIZER, data: { recipe: TINY_RECIPE, batchSize: 8 }, model: { contextLength: 32 } });
    const data = buildRunData(config, Tokenizer.load(TOKENIZER), 32);
    const groups: string[] = [];
    while (groups.length < 3000) for (const s of data.train.next().samples) groups.push(s.group!);
    const weights = Object.fromEntries(data.mixture.groups.map((g) => [g.name, g.weight]));
    expect(Object.keys(weights).sort()).toEqual(["replay", "synthetic"]);
    let worst = 0;
    for (let start = 0; start + 1000 <= groups.length; start++) {
      const window = groups.slice(start, start + 1000);
      for (const [g, w] of Object.entries(weights)) worst = Math.max(worst, Math.abs(window.filter((x) => x === g).length / 1000 - w));
    }
    expect(worst).toBeLessThanOrEqual(0.01);
  });
});

describe("decontamination", () => {
  it("removes a training document that copies a held-out item, naming the item", () => {
    const quality = { nearDedup: false, decontaminate: true };
    const math = { name: "synthetic-math", count: 400 };
    const plain = buildMixture(resolveRecipe({ groups: [{ name: "s", weight: 1, sources: [math] }], quality }, "test").recipe);
    const item = plain.heldout["synthetic-math"]![0]!;
    const dir = tempDir();
    mkdirSync(join(dir, "docs"));
    writeFileSync(join(dir, "docs", "notes.txt"), `My study notes for today. ${item.text} That was the problem I worked through.`);
    writeFileSync(join(dir, "docs", "other.txt"), `Unrelated notes about the weather and gardening. ${prose(5, 80).join(" ")}`);
    const planted = buildMixture(resolveRecipe({ groups: [{ name: "s", weight: 1, sources: [math, { name: "mine", type: "text", path: join(dir, "docs") }] }], quality }, "test").recipe);
    expect(planted.heldout["synthetic-math"]!.map((d) => d.id)).toContain(item.id); // still held out
    expect(planted.heldout.mine ?? []).toEqual([]); // both notes are training documents (by their id's hash)
    expect(planted.report.mine).toMatchObject({ loaded: 2, removed: { contaminated: 1 }, kept: 1 });
    expect(planted.groups[0]!.documents.filter((d) => d.source === "mine").map((d) => d.id)).toEqual(["mine/other.txt"]);
    const why = planted.examples.find((e) => e.id === "mine/notes.txt");
    expect(why).toMatchObject({ reason: "contaminated", detail: expect.stringContaining(`held-out item ${item.id}`) });
  });
});

describe("near-duplicate threshold (0.72 on 5-gram shingles)", () => {
  /** `base` with every `every`-th word replaced: each replacement removes five shingles. */
  const edit = (base: string[], every: number) => base.map((w, i) => (i % every === every - 1 ? `edit${i}` : w)).join(" ");

  it("joins a pair at Jaccard ~0.8 and keeps apart a pair at ~0.6", () => {
    const base = prose(1, 400);
    const close = edit(base, 40);
    const far = edit(base, 20);
    const jClose = jaccard(base.join(" "), close);
    const jFar = jaccard(base.join(" "), far);
    expect(jClose).toBeGreaterThan(0.78);
    expect(jClose).toBeLessThan(0.85);
    expect(jFar).toBeGreaterThan(0.55);
    expect(jFar).toBeLessThan(0.65);
    expect(nearDuplicateClusters([base.join(" "), close]).clusters).toEqual([[0, 1]]);
    expect(nearDuplicateClusters([base.join(" "), far]).clusters).toEqual([]);
  });
});

describe("curriculum floor", () => {
  it("applies minShare before renormalising, so the smallest share can end below it (0.083 for a 0.1 floor)", () => {
    const recipe = { a: 0.5, b: 0.3, c: 0.2 };
    // A large excess on one group pushes the other two to their floor: 0.1, 0.1 and ~1, renormalised by ~1.2.
    const { weights } = updateWeights({ ...recipe }, { a: 50, b: 0, c: 0 }, recipe, { eta: 1, smoothing: 0, minShare: 0.1 });
    const min = Math.min(...Object.values(weights));
    expect(Object.values(weights).reduce((x, y) => x + y, 0)).toBeCloseTo(1, 12);
    expect(min).toBeCloseTo(0.1 / 1.2, 6);
    expect(min).toBeLessThan(0.1);
  });
});
