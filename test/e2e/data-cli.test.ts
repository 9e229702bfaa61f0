// `mtx data`: bad inputs give exit 2 with the file and line; build writes shards and a manifest.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mtx, tempDir } from "../helpers/cli.js";

function recipeWith(dir: string, sources: unknown[], extra: Record<string, unknown> = {}): string {
  const file = join(dir, "recipe.json");
  writeFileSync(file, JSON.stringify({ heldoutShare: 0.01, groups: [{ name: "mine", weight: 1, sources }], quality: { nearDedup: false, decontaminate: false }, ...extra }));
  return file;
}

const text = (i: number) => `This is document number ${i} of a small user corpus, with enough words to pass the length filter easily.`;

describe("mtx data: bad inputs exit 2 with a clear message", () => {
  it("a missing path", () => {
    const dir = tempDir();
    const r = mtx(["data", "inspect", "--recipe", recipeWith(dir, [{ name: "mine", type: "text", path: join(dir, "nope") }])]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/source 'mine': path '.*nope' does not exist/);
  });

  it("an empty source", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "empty"));
    writeFileSync(join(dir, "empty", "blank.txt"), "   \n\n");
    const r = mtx(["data", "inspect", "--recipe", recipeWith(dir, [{ name: "mine", type: "text", path: join(dir, "empty") }])]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/source 'mine' at '.*empty' has no documents: all its documents are empty/);
  });

  it("malformed JSONL lines are counted and reported with file and line; --strict makes them fatal", () => {
    const dir = tempDir();
    const file = join(dir, "data.jsonl");
    writeFileSync(file, [JSON.stringify({ text: text(1) }), "{not json", JSON.stringify({ body: "no text field" }), JSON.stringify({ text: text(2) })].join("\n") + "\n");
    const recipe = recipeWith(dir, [{ name: "mine", type: "jsonl", path: file }]);
    const lax = mtx(["data", "inspect", "--recipe", recipe, "--no-cache"]);
    expect(lax.code).toBe(0);
    expect(lax.stdout).toMatch(/bad records: 2; first: .*data.jsonl:2: not valid JSON.*data.jsonl:3: no string field 'text'/);
    const strict = mtx(["data", "inspect", "--recipe", recipe, "--strict", "--no-cache"]);
    expect(strict.code).toBe(2);
    expect(strict.stderr).toMatch(/data.jsonl:2: not valid JSON/);
    expect(strict.stderr).toMatch(/--strict makes this fatal/);
  });

  it("invalid UTF-8 is reported with file and byte; --strict makes it fatal", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "txt"));
    writeFileSync(join(dir, "txt", "good.txt"), text(1));
    writeFileSync(join(dir, "txt", "bad.txt"), Buffer.concat([Buffer.from(text(2) + "\n"), Buffer.from([0xc3, 0x28]), Buffer.from(" tail")]));
    const recipe = recipeWith(dir, [{ name: "mine", type: "text", path: join(dir, "txt") }]);
    const lax = mtx(["data", "inspect", "--recipe", recipe, "--no-cache"]);
    expect(lax.code).toBe(0);
    expect(lax.stdout).toContain(`bad.txt:2: invalid UTF-8 at byte ${Buffer.byteLength(text(2) + "\n")}`);
    const strict = mtx(["data", "inspect", "--recipe", recipe, "--strict", "--no-cache"]);
    expect(strict.code).toBe(2);
    expect(strict.stderr).toMatch(/bad\.txt:2: invalid UTF-8/);
  });

  it("a negative weight, an unknown source and a malformed recipe", () => {
    const dir = tempDir();
    const neg = join(dir, "neg.json");
    writeFileSync(neg, JSON.stringify({ groups: [{ name: "a", weight: -0.1, sources: ["brown"] }] }));
    expect(mtx(["data", "inspect", "--recipe", neg])).toMatchObject({ code: 2, stderr: expect.stringMatching(/groups.0.weight: got -0.1; must be >= 0/) });
    const unknown = join(dir, "unknown.json");
    writeFileSync(unknown, JSON.stringify({ groups: [{ name: "a", weight: 1, sources: ["wikipedia"] }] }));
    expect(mtx(["data", "inspect", "--recipe", unknown])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown built-in source 'wikipedia': known sources are sotu, brown/) });
    writeFileSync(join(dir, "broken.json"), "{");
    expect(mtx(["data", "inspect", "--recipe", join(dir, "broken.json")])).toMatchObject({ code: 2, stderr: expect.stringMatching(/recipe '.*broken.json' is not valid JSON/) });
    expect(mtx(["data", "inspect", "--recipe", join(dir, "missing.json")])).toMatchObject({ code: 2, stderr: expect.stringMatching(/recipe '.*missing.json' not found/) });
  });

  it("warns about replay outside 5-30% and notes weights that do not sum to 1", () => {
    const dir = tempDir();
    const file = join(dir, "r.json");
    writeFileSync(file, JSON.stringify({ groups: [{ name: "syn", weight: 3, sources: [{ name: "synthetic-math", count: 200 }], filters: { minAlphaRatio: 0.2, maxDigitRatio: 0.5 } }, { name: "rep", weight: 0, replay: true, sources: ["brown"] }], quality: { nearDedup: false } }));
    const r = mtx(["data", "inspect", "--recipe", file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/recipe weights sum to 3; normalised to syn 1.000, rep 0.000/);
    expect(r.stderr).toMatch(/general-data replay is 0.0% of the mixture, outside the usual 5-30%: expect more forgetting/);
  });
});

describe("mtx data build and sample", () => {
  it("writes shards per group and source, held-out files and a manifest", () => {
    const dir = tempDir();
    const out = join(dir, "built");
    const r = mtx(["data", "build", "--recipe", join(import.meta.dirname, "..", "fixtures", "tiny-recipe.json"), "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(out, "shards", "replay", "brown.jsonl"))).toBe(true);
    expect(existsSync(join(out, "shards", "synthetic", "synthetic-math.jsonl"))).toBe(true);
    const m = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
    expect(m.groups.replay.weight).toBe(0.5);
    expect(m.sources.brown.tokens).toBeGreaterThan(1_000_000);
    expect(m.sources.brown.documents + m.sources.brown.heldout + Object.values(m.sources.brown.removed as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(500);
    const lines = readFileSync(join(out, "shards", "replay", "brown.jsonl"), "utf8").trim().split("\n");
    expect(lines).toHaveLength(m.sources.brown.documents);
    const inspect = mtx(["data", "inspect", out]);
    expect(inspect.stdout).toMatch(/brown\s+replay\s+\d+/);
    const sample = mtx(["data", "sample", "--recipe", join(import.meta.dirname, "..", "fixtures", "tiny-recipe.json"), "--n", "3", "--json"]);
    const seqs = JSON.parse(sample.stdout) as { group: string; text: string }[];
    expect(seqs).toHaveLength(3);
    expect(seqs.map((s) => s.group).sort()).toEqual(expect.arrayContaining(["replay", "synthetic"]));
  });
});
