/**
 * Each probe's arithmetic against mock models whose outputs are known, so a wrong count, a swapped
 * denominator or a metric computed over the wrong items fails here: bits per byte, loss by position,
 * needle accuracy and rank, tool-use call match, rollout success and pass^k, code output match, maj@k,
 * self-consistency when nothing is answered, and the repetition rate.
 */
import { describe, expect, it } from "vitest";
import { ToolEnvironment } from "../../core/data/synthetic/tools/ToolEnvironment.js";
import { trajectory } from "../../core/data/synthetic/tools/trajectories.js";
import { Tokenizer } from "../../core/data/tokenizer/Tokenizer.js";
import { scoreRows, type LanguageModel } from "../../core/engine/LanguageModel.js";
import type { GenerateOptions, TokenRows } from "../../core/engine/types.js";
import { createRng } from "../../core/rng.js";
import { generation, repetitionRate } from "../../probes/generation.js";
import { heldoutCode, heldoutMath, heldoutTools, PROBE_SEED } from "../../probes/items.js";
import { needle } from "../../probes/needle.js";
import { positionLoss } from "../../probes/positionLoss.js";
import { code, math, majority, selfConsistency } from "../../probes/reasoning.js";
import { toolUse } from "../../probes/tools.js";
import type { ProbeDefinition } from "../../probes/types.js";
import { TOKENIZER } from "../helpers/cli.js";

const tokenizer = Tokenizer.load(TOKENIZER);
const config = { vocabSize: tokenizer.vocabSize, dModel: 8, nLayers: 1, nHeads: 1, contextLength: 128, ropeBase: 10000, qkNorm: false, zLoss: 0, tiedEmbeddings: false, normEps: 1e-5, initStd: 0.02 };

interface Behaviour {
  tokenLoss?: (rows: TokenRows) => Float32Array;
  next?: (prompt: string) => Float32Array;
  /** The completion text for a prompt text; `i` is the row's index among identical prompts. */
  complete?: (prompt: string, opts: GenerateOptions, i: number) => string;
}

function mock(b: Behaviour): LanguageModel {
  return {
    config,
    tokenizer,
    where: "mock",
    tokenLoss: async (rows) => b.tokenLoss!(rows),
    nextTokenLogprobs: async (prompts) => prompts.map((p) => b.next!(tokenizer.decode(p))),
    generate: async (prompts, opts) => prompts.map((p, i) => Array.from(tokenizer.encode(b.complete!(tokenizer.decode(p), opts, i)))),
    klFrom: async () => undefined,
    dispose: async () => {},
  };
}

const run = (probe: ProbeDefinition, model: LanguageModel, params: Record<string, unknown>) => probe.run({ model, tokenizer, seed: 1, load: async () => model }, params);

describe("bits per byte and loss by position", () => {
  it("bits per byte = sum of NLL / sum of the targets' UTF-8 bytes / ln 2, per source", async () => {
    // Whole texts as rows: the targets are every token but the first, so their bytes are the text's minus the first token's.
    const text = ["Hello world, mid-training.", "Bytes: Ünïcödé count double."];
    const ids = text.map((t) => Array.from(tokenizer.encode(t)));
    const T = Math.min(...ids.map((r) => r.length)) - 1;
    const rows = ids.map((r) => r.slice(0, T + 1));
    const inputs = Int32Array.from(rows.flatMap((r) => r.slice(0, T)));
    const targets = Int32Array.from(rows.flatMap((r) => r.slice(1)));
    const model = mock({ tokenLoss: (r) => new Float32Array(r.size * r.seqLen).fill(2) });
    const score = await scoreRows(model, [{ inputs, targets, size: 2, seqLen: T, sources: ["a", "b"] }]);
    const bytesOf = (r: number[]) => Buffer.byteLength(tokenizer.decode(r), "utf8") - Buffer.byteLength(tokenizer.decode([r[0]!]), "utf8");
    const [bytesA, bytesB] = rows.map(bytesOf) as [number, number];
    expect(score.loss).toBe(2);
    expect(score.perSource.a!.bpb).toBeCloseTo((2 * T) / bytesA / Math.LN2, 10);
    expect(score.perSource.b!.bpb).toBeCloseTo((2 * T) / bytesB / Math.LN2, 10);
    expect(score.bpb).toBeCloseTo((2 * 2 * T) / (bytesA + bytesB) / Math.LN2, 10);
    expect(bytesB).toBeGreaterThan(tokenizer.decode(rows[1]!.slice(1)).length); // accents are two bytes each: bytes, not characters
  });

  it("loss by position averages each power-of-two bucket", async () => {
    const model = mock({ tokenLoss: (r) => Float32Array.from({ length: r.size * r.seqLen }, (_, i) => i % r.seqLen) });
    const r = await run(positionLoss, model, { seqLen: 16, sequences: 2 });
    // Buckets [0,1) [1,2) [2,4) [4,8) [8,16): means 0, 1, 2.5, 5.5, 11.5.
    expect([r.metrics["loss.pos0"], r.metrics["loss.pos1"], r.metrics["loss.pos2"], r.metrics["loss.pos4"], r.metrics["loss.pos8"]]).toEqual([0, 1, 2.5, 5.5, 11.5]);
    expect(r.metrics.slope).toBe(11.5 - 2.5);
    expect(r.n).toBe(2);
    expect(r.counts?.slope).toBe(2);
  });
});

describe("needle in a haystack", () => {
  /** The value stated for the key the prompt asks about (null if the needle is not in the prompt). */
  const answerOf = (prompt: string) => {
    const key = /The special magic number for (\S+) is:$/.exec(prompt)?.[1];
    return new RegExp(`The special magic number for ${key} is: (\\d+)\\.`).exec(prompt)?.[1];
  };
  /** Next-token log-probabilities that put the value's first token at `rank`. */
  const ranked = (rank: number) => (prompt: string) => {
    const logp = new Float32Array(tokenizer.vocabSize).fill(-20);
    const target = tokenizer.encode(` ${answerOf(prompt)}`)[0]!;
    let placed = 0;
    for (let id = 0; placed < rank - 1; id++) if (id !== target) (logp[id] = -1 - placed * 0.01), placed++;
    logp[target] = -1 - (rank - 1) * 0.01 - 0.001;
    return logp;
  };

  it("a model that retrieves scores 100% with rank 1; one that answers another number scores 0% with the rank it gives", async () => {
    const params = { lengths: [64, 96], depths: [0, 0.5, 1], trials: 2 };
    const retriever = await run(needle, mock({ complete: (p) => ` ${answerOf(p)}.`, next: ranked(1) }), params);
    expect(retriever.metrics).toMatchObject({ accuracy: 1, "accuracy.len64": 1, "accuracy.len96": 1, "meanRank.len64": 1 });
    expect(retriever.n).toBe(2 * 3 * 2);
    const wrong = await run(needle, mock({ complete: () => " 1234.", next: ranked(3) }), params);
    expect(wrong.metrics).toMatchObject({ accuracy: 0, "meanRank.len64": 3, "meanRank.len96": 3 });
    const grid = (wrong.details as { grid: { length: number; depth: number; accuracy: number; meanRank: number; trials: number }[] }).grid;
    expect(grid).toHaveLength(6);
    expect(grid.every((c) => c.trials === 2 && c.meanRank === 3)).toBe(true);
  });
  it("with distractors (keys: 4) a key-matcher still scores 100%; a model that copies the last number it read scores about 1/8 (all three distractors before the needle)", async () => {
    const params = { lengths: [160], depths: [0, 0.25, 0.5, 0.75, 1], trials: 8, keys: 4 };
    const matcher = await run(needle, mock({ complete: (p) => ` ${answerOf(p)}.`, next: ranked(1) }), params);
    expect(matcher.metrics.accuracy).toBe(1);
    // Every prompt holds four facts with distinct keys and values.
    const prompts: string[] = [];
    const lastNumber = await run(needle, mock({ complete: (p) => (prompts.push(p), ` ${[...p.matchAll(/is: (\d+)\./g)].at(-1)![1]}.`), next: ranked(1) }), params);
    for (const p of prompts) expect(new Set([...p.matchAll(/The special magic number for (\S+) is: (\d+)\./g)].map((m) => m[1])).size).toBe(4);
    expect(lastNumber.metrics.accuracy!).toBeLessThan(0.3);
    // Without distractors the same copier is perfect: the single-needle test cannot tell it from retrieval.
    const single = await run(needle, mock({ complete: (p) => ` ${[...p.matchAll(/is: (\d+)\./g)].at(-1)![1]}.`, next: ranked(1) }), { ...params, keys: 1 });
    expect(single.metrics.accuracy).toBe(1);
  });

  it("asks in a phrasing never trained with template 'novel', and refuses an unknown template", async () => {
    const prompts: string[] = [];
    await run(needle, mock({ complete: (p) => (prompts.push(p), " 1."), next: ranked(1) }), { lengths: [96], depths: [0.5], trials: 2, keys: 2, template: "novel" });
    for (const p of prompts) {
      expect(p).not.toMatch(/special magic number/);
      expect(p).toMatch(/\nThe access code for the \S+ locker is$/);
      expect([...p.matchAll(/The access code for the \S+ locker is \d+\./g)]).toHaveLength(2);
    }
    await expect(run(needle, mock({ complete: () => " 1.", next: ranked(1) }), { lengths: [96], template: "odd" })).rejects.toThrow(/template must be one of trained, novel/);
  });
});

describe("reasoning probes", () => {
  it("math: exact match over items and maj@k over k samples (no-answer never wins the vote)", async () => {
    const items = heldoutMath(6);
    const byPrompt = new Map(items.map((it) => [`Problem: ${it.question}\nSolution:\n`, it]));
    // Greedy is right on the first 3 items; samples vote right-right-wrong on every item.
    const model = mock({
      complete: (p, o, i) => {
        const item = byPrompt.get(p)!;
        const right = o.temperature ? i < 2 : items.indexOf(item) < 3;
        return `Step 1: ...\nAnswer: ${right ? item.answer : item.answer + 1}\n`;
      },
      tokenLoss: (r) => new Float32Array(r.size * r.seqLen).fill(1),
    });
    const r = await run(math, model, { items: 6, k: 3, maxTokens: 16 });
    expect(r.metrics.accuracy).toBe(0.5);
    expect(r.metrics["maj@3"]).toBe(1);
    expect(r.n).toBe(6);
  });

  it("code: output match over items", async () => {
    const items = heldoutCode(8);
    const byPrompt = new Map(items.map((it, i) => [`Program:\n${it.program}\nTrace:\n`, { it, i }]));
    const model = mock({ complete: (p) => { const { it, i } = byPrompt.get(p)!; return `...\nOutput: ${i % 4 === 0 ? it.output : "-99999"}\n`; } });
    const r = await run(code, model, { items: 8 });
    expect(r.metrics.accuracy).toBe(2 / 8);
  });

  it("self-consistency: a model that never answers has agreement 0 and the highest entropy, ln k", async () => {
    const silent = await run(selfConsistency, mock({ complete: () => "I am not sure.\n" }), { items: 4, k: 5 });
    expect(silent.metrics.agreement).toBe(0);
    expect(silent.metrics.answered).toBe(0);
    expect(silent.metrics.entropy).toBeCloseTo(Math.log(5), 10);
    const agreed = await run(selfConsistency, mock({ complete: () => "Answer: 7\n" }), { items: 4, k: 5 });
    expect(agreed.metrics).toMatchObject({ agreement: 1, answered: 1, entropy: 0 });
    expect(majority(["3", undefined, undefined, "3", "4"])).toMatchObject({ answer: "3", count: 2, answered: 3 });
  });
});

describe("tool use", () => {
  const { env, tasks } = heldoutTools(6);
  const reference = new Map(tasks.map((t) => [t.id, trajectory(new ToolEnvironment(PROBE_SEED), t, false, createRng(1, "t")).text]));
  /** The reference trajectory's next line(s) after `prompt`, up to the next Action or Final answer line. */
  const oracle = (prompt: string) => {
    const task = tasks.find((t) => prompt.includes(`Goal: ${t.goal}\n`))!;
    const ref = reference.get(task.id)! + "\n";
    const done = prompt.length - prompt.indexOf("Goal:");
    const rest = ref.slice(done);
    const m = /^[\s\S]*?(Action:[^\n]*\n|Final answer:[^\n]*\n)/.exec(rest);
    return m ? m[0] : rest;
  };

  it("an agent that follows the reference: every call right, every rollout a success, pass^k 1", async () => {
    void env;
    const r = await run(toolUse, mock({ complete: (p) => oracle(p) }), { tasks: 6, k: 2 });
    expect(r.metrics).toMatchObject({ callAccuracy: 1, validCallRate: 1, toolAccuracy: 1, successRate: 1, "pass^2": 1 });
    expect(r.n).toBe(6);
  });

  it("right only when greedy: success 1 but pass^k 0; malformed calls: no valid call, no success", async () => {
    const greedyOnly = await run(toolUse, mock({ complete: (p, o) => (o.temperature ? "Action: {not json}\n" : oracle(p)) }), { tasks: 6, k: 2 });
    expect(greedyOnly.metrics).toMatchObject({ successRate: 1, "pass^2": 0 });
    const broken = await run(toolUse, mock({ complete: () => 'Action: {"tool": "search", "args": \n' }), { tasks: 6 });
    expect(broken.metrics).toMatchObject({ callAccuracy: 0, validCallRate: 0, successRate: 0 });
    expect(broken.metrics.toolAccuracy).toBeCloseTo(tasks.filter((t) => t.calls[0]!.tool === "search").length / 6, 10);
  });
});

describe("generation sanity", () => {
  it("the repeated 4-gram rate counts repeats among all 4-grams", () => {
    expect(repetitionRate([1, 2, 3, 4, 5, 6])).toBe(0);
    expect(repetitionRate([1, 2, 3, 4, 1, 2, 3, 4])).toBeCloseTo(1 / 5, 10); // 5 4-grams, the last repeats the first
    expect(repetitionRate([7, 7, 7, 7, 7, 7])).toBeCloseTo(2 / 3, 10);
  });

  it("the probe averages repetition and length over the prompts", async () => {
    const r = await run(generation, mock({ complete: () => " the cat the cat the cat the cat" }), { prompts: 3, maxTokens: 48 });
    const ids = Array.from(tokenizer.encode(" the cat the cat the cat the cat"));
    expect(r.metrics.repetitionRate).toBeCloseTo(repetitionRate(ids), 10);
    expect(r.metrics.meanLength).toBe(ids.length);
    expect(r.n).toBe(3);
  });
});
