/**
 * Checkpoints out through the ecosystem's doors and back, checked by the real libraries: Hugging Face
 * transformers loads `mtx export --format hf` with mtx's logits (1e-4) and greedy text; a directory
 * transformers wrote imports with transformers' logits; llama.cpp (node-llama-cpp) runs `--format gguf` with
 * mtx's tokens, greedy text and log-probabilities, and the gguf package reads its metadata back; bad inputs
 * are exit 2 naming the file and field; a run starts from hf:DIR with fresh moments, recorded.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getLlama, type Llama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../core/backend.js";
import { Tokenizer } from "../../core/data/tokenizer/Tokenizer.js";
import { TfjsModel } from "../../core/engine/tfjs/TfjsModel.js";
import { resolveModelSource } from "../../core/interop/modelSource.js";
import { mtx, PYTHON, ROOT, tempDir, tinyConfig, TOKENIZER } from "../helpers/cli.js";
import { readJsonl } from "../helpers/trainer.js";

const HF = join(ROOT, "test", "fixtures", "python", "hf_interop.py");
/** Prompts from held-out prose (not in the training mixture's documents). */
const PROMPTS = ["The committee reported that the", "In the spring of that year, the river", "She opened the letter and read"];
const NEW_TOKENS = 16;

type HfCheck = { ids: number[]; logprobs: number[]; greedy: number[] }[];

function python(args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(PYTHON, [HF, ...args], { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`hf_interop.py ${args[0]} failed: ${r.stderr.slice(-2000)}`);
  return r.stdout.trim().split("\n").pop()!;
}

function ok(args: string[], env: Record<string, string> = {}) {
  const r = mtx(args, { env });
  expect(r.code, r.stderr).toBe(0);
  return r;
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

/** mtx's next-token log-probabilities after each prompt and its greedy continuation. */
async function mtxSide(checkpoint: string, prompts: number[][], newTokens = NEW_TOKENS) {
  const model = TfjsModel.fromCheckpoint(checkpoint);
  try {
    return { logprobs: await model.nextTokenLogprobs(prompts), greedy: await model.generate(prompts, { maxTokens: newTokens, temperature: 0 }) };
  } finally {
    await model.dispose();
  }
}

const encode = (checkpoint: string, text: string) => Array.from(Tokenizer.load(join(checkpoint, "tokenizer.json")).encode(text));

describe("interop: Hugging Face and llama.cpp", () => {
  let dir = "";
  let ckpt = "";
  let cache = "";
  let llama: Llama;
  beforeAll(async () => {
    await initBackend("wasm");
    dir = tempDir("mtx-interop-");
    cache = join(dir, "cache");
    process.env.MTX_CACHE = cache;
    // A mid-trained checkpoint: the bundled base (llama, grouped-query attention) after 2 steps.
    ok(["train", "--steps", "2", "--out", join(dir, "mid"), "--backend", "wasm"]);
    ckpt = join(dir, "mid", "checkpoints", "step-2");
    llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
  });
  afterAll(async () => {
    await llama?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("exports a directory transformers loads as LlamaForCausalLM: the same tokens, logits within 1e-4, the same greedy text; import gives identical logits", async () => {
    const out = join(dir, "hf");
    ok(["export", "--checkpoint", ckpt, "--format", "hf", "--out", out]);
    const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
    expect(config).toMatchObject({ architectures: ["LlamaForCausalLM"], model_type: "llama", num_key_value_heads: 4, num_attention_heads: 4, intermediate_size: 352, hidden_act: "silu", tie_word_embeddings: false });
    const hf = JSON.parse(python(["check", out, JSON.stringify(PROMPTS), String(NEW_TOKENS)])) as HfCheck;
    const mine = await mtxSide(ckpt, PROMPTS.map((p) => encode(ckpt, p)));
    hf.forEach((h, i) => {
      expect(h.ids, "AutoTokenizer's ids").toEqual(encode(ckpt, PROMPTS[i]!));
      expect(maxAbs(h.logprobs, mine.logprobs[i]!), `prompt ${i}`).toBeLessThan(1e-4);
      expect(h.greedy, `prompt ${i}`).toEqual(mine.greedy[i]);
    });
    // Back in: the same weights, bitwise.
    const back = await mtxSide(resolveModelSource(`hf:${out}`), hf.map((h) => h.ids));
    back.logprobs.forEach((lp, i) => expect(maxAbs(lp, mine.logprobs[i]!)).toBe(0));
  });

  it("imports a directory transformers wrote (sharded, BF16, grouped-query, tied embeddings) with transformers' logits", async () => {
    const made = join(dir, "made");
    python(["make", made, TOKENIZER, JSON.stringify({ vocab: 2048, shard: "300KB", dtype: "bf16", tied: true, kvHeads: 1, seed: 3 })]);
    const files = spawnSync("ls", [made], { encoding: "utf8" }).stdout;
    expect(files).toMatch(/model-00001-of-0000\d\.safetensors/);
    const hf = JSON.parse(python(["check", made, JSON.stringify(PROMPTS.slice(0, 2)), String(NEW_TOKENS)])) as HfCheck;
    const mine = await mtxSide(resolveModelSource(`hf:${made}`), hf.map((h) => h.ids));
    hf.forEach((h, i) => {
      expect(maxAbs(h.logprobs, mine.logprobs[i]!), `prompt ${i}`).toBeLessThan(1e-4);
      expect(h.greedy).toEqual(mine.greedy[i]);
    });
    // mtx train from it: fresh moments, said in decisions.jsonl.
    const run = join(dir, "from-hf");
    ok(["train", "--from", `hf:${made}`, "--steps", "2", "--out", run, "--backend", "wasm"], { MTX_CACHE: cache });
    const decisions = readJsonl<{ action: string; reason: string }>(join(run, "decisions.jsonl"));
    expect(decisions.find((d) => d.action === "reset-optimizer")?.reason).toMatch(/Hugging Face checkpoints carry no optimizer moments/);
  });

  it("exports a context-extended model's YaRN RoPE in a form transformers computes the same way", async () => {
    const run = join(dir, "long");
    ok(["train", "--from", ckpt, "--steps", "1", "--context", "256", "--rope-type", "yarn", "--batch-size", "2", "--out", run, "--backend", "wasm"]);
    const long = join(run, "checkpoints", "step-1");
    const out = join(dir, "hf-long");
    ok(["export", "--checkpoint", long, "--format", "hf", "--out", out]);
    expect(JSON.parse(readFileSync(join(out, "config.json"), "utf8")).rope_scaling).toMatchObject({ rope_type: "yarn", factor: 2, original_max_position_embeddings: 128 });
    // A prompt past the original context, where the scaling matters.
    const ids = encode(long, PROMPTS.join(" ").repeat(8)).slice(0, 200);
    const hf = JSON.parse(python(["check", out, JSON.stringify([ids]), "4"])) as HfCheck;
    const mine = await mtxSide(long, [ids], 4);
    expect(maxAbs(hf[0]!.logprobs, mine.logprobs[0]!)).toBeLessThan(1e-4);
    expect(hf[0]!.greedy).toEqual(mine.greedy[0]);
  });

  it("exports GGUF that llama.cpp runs with mtx's tokens and greedy text (grouped-query and tied too); metadata reads back with the gguf package", async () => {
    // A second model with grouped-query attention (1 KV head for 4) and tied embeddings, from scratch.
    const gqaConfig = join(dir, "gqa.json");
    writeFileSync(gqaConfig, JSON.stringify(tinyConfig({ steps: 20, tokenizer: TOKENIZER, model: { dModel: 64, nLayers: 2, nHeads: 4, nKvHeads: 1, tiedEmbeddings: true, contextLength: 64 } })));
    ok(["train", "--config", gqaConfig, "--out", join(dir, "gqa")]);
    const gqa = join(dir, "gqa", "checkpoints", "step-20");
    const prompts = PROMPTS;
    const deviation: Record<string, number> = {};
    for (const [label, source, dtype] of [["f32", ckpt, "f32"], ["f16", ckpt, "f16"], ["q8_0", ckpt, "q8_0"], ["gqa-f32", gqa, "f32"]] as const) {
      const ids = prompts.map((p) => encode(source, p));
      const ref = await mtxSide(source, ids);
      const file = join(dir, `mid-${label}.gguf`);
      ok(["export", "--checkpoint", source, "--format", "gguf", "--dtype", dtype, "--out", file]);
      const model = await llama.loadModel({ modelPath: file });
      const ctx = await model.createContext({ contextSize: 128, threads: 1 });
      let worst = 0;
      for (const [i, p] of prompts.entries()) {
        const tokens = model.tokenize(p, false);
        expect(Array.from(tokens), `llama.cpp tokenizes prompt ${i} as mtx does`).toEqual(ids[i]);
        const seq = ctx.getSequence();
        const out = await seq.controlledEvaluate(tokens.map((t, j) => (j === tokens.length - 1 ? [t, { generateNext: { probabilities: true } }] : t)));
        const probs = out.at(-1)!.next!.probabilities!;
        // Tokens mtx finds likely (log-probability above -8): llama.cpp's log-probabilities of them.
        for (let v = 0; v < ref.logprobs[i]!.length; v++) if (ref.logprobs[i]![v]! > -8) worst = Math.max(worst, Math.abs(Math.log(probs.get(v as never) ?? 1e-30) - ref.logprobs[i]![v]!));
        await seq.clearHistory();
        const greedy: number[] = [];
        for await (const t of seq.evaluate(tokens, { temperature: 0 })) {
          greedy.push(t);
          if (greedy.length >= NEW_TOKENS) break;
        }
        // Greedy text on the trained base (the barely trained GQA model's near-uniform logits make ties).
        if (label === "f32") expect(greedy, `greedy continuation of prompt ${i}`).toEqual(ref.greedy[i]!.slice(0, greedy.length));
        if (label === "f32") expect(greedy.length).toBe(NEW_TOKENS);
        seq.dispose();
      }
      deviation[label] = worst;
      await ctx.dispose();
      await model.dispose();
    }
    // The tolerances docs/interop.md states.
    expect(deviation.f32).toBeLessThan(5e-3);
    expect(deviation["gqa-f32"]).toBeLessThan(5e-3);
    expect(deviation.f16).toBeLessThan(2e-2);
    expect(deviation.q8_0).toBeLessThan(2e-1);
    process.stdout.write(`llama.cpp log-probability deviation from mtx: ${JSON.stringify(deviation)}\n`);
    const meta = spawnSync(PYTHON, ["-c", "import sys, json, gguf; r = gguf.GGUFReader(sys.argv[1]); f = r.fields; g = lambda k: f[k].contents(); print(json.dumps({k: g(k) for k in ['general.architecture', 'llama.attention.head_count', 'llama.attention.head_count_kv', 'llama.feed_forward_length', 'tokenizer.ggml.model', 'tokenizer.ggml.pre']} | {'tokens': len(g('tokenizer.ggml.tokens')), 'tensors': len(r.tensors)}))", join(dir, "mid-f32.gguf")], { encoding: "utf8" });
    expect(meta.status, meta.stderr).toBe(0);
    expect(JSON.parse(meta.stdout)).toEqual({ "general.architecture": "llama", "llama.attention.head_count": 4, "llama.attention.head_count_kv": 4, "llama.feed_forward_length": 352, "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2", tokens: 2048, tensors: 4 * 9 + 3 });
  });

  it("refuses what it cannot read or write with exit 2, naming the file and the field", () => {
    const made = join(dir, "bad-src");
    python(["make", made, TOKENIZER, JSON.stringify({ vocab: 2048, shard: "300KB" })]);
    const run = (src: string) => mtx(["generate", "--checkpoint", `hf:${src}`, "--prompt", "x", "--max-tokens", "1"], { env: { MTX_CACHE: join(dir, "cache-bad") } });
    const copy = (name: string, edit: (d: string) => void) => {
      const d = join(dir, name);
      spawnSync("cp", ["-r", made, d]);
      edit(d);
      return d;
    };
    const editJson = (file: string, f: (j: Record<string, unknown>) => void) => {
      const j = JSON.parse(readFileSync(file, "utf8"));
      f(j);
      writeFileSync(file, JSON.stringify(j));
    };
    const cases: [string, (d: string) => void, RegExp][] = [
      ["no-hidden", (d) => editJson(join(d, "config.json"), (j) => delete j.hidden_size), /config\.json: 'hidden_size' is missing/],
      ["wrong-shape", (d) => editJson(join(d, "config.json"), (j) => (j.intermediate_size = 128)), /tensor 'model\.layers\.0\.mlp\.\w+_proj\.weight' has shape \[\d+,\d+\], but config\.json implies \[/],
      ["truncated", (d) => truncateSync(join(d, "model-00001-of-00003.safetensors"), 1000), /model-00001-of-00003\.safetensors/],
      ["missing-shard", (d) => rmSync(join(d, "model-00002-of-00003.safetensors")), /names shard '.*model-00002-of-00003\.safetensors', which does not exist/],
      ["not-llama", (d) => editJson(join(d, "config.json"), (j) => (j.model_type = "gpt2")), /model_type "gpt2" is not supported/],
    ];
    for (const [name, edit, message] of cases) {
      const r = run(copy(name, edit));
      expect(r.code, `${name}: ${r.stderr}`).toBe(2);
      expect(r.stderr, name).toMatch(message);
      expect(r.stderr, name).not.toMatch(/\n\s+at /);
    }
    // Export: an architecture llama.cpp does not run, and a destination that exists.
    const gelu = join(dir, "gelu");
    const geluConfig = join(dir, "gelu.json");
    writeFileSync(geluConfig, JSON.stringify(tinyConfig({ steps: 1, model: { arch: "gelu", dModel: 32, nLayers: 1, nHeads: 2, contextLength: 32 } })));
    ok(["train", "--config", geluConfig, "--out", gelu]);
    const r1 = mtx(["export", "--checkpoint", join(gelu, "checkpoints", "step-1"), "--format", "gguf", "--out", join(dir, "g.gguf")]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/model\.arch is "gelu"/);
    const r2 = mtx(["export", "--checkpoint", ckpt, "--format", "hf", "--out", join(dir, "mid")]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/already exists/);
  });
});
