import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { latestGoodCheckpoint, listCheckpoints, loadCheckpoint, saveCheckpoint, saveCheckpointWith, type CheckpointData, type CheckpointTag } from "../../../core/checkpoint/Checkpoint.js";
import type { ModelConfig } from "../../../core/config/types.js";
import { CheckpointError } from "../../../core/errors.js";
import { parameterSpecs } from "../../../core/model/Transformer.js";
import { tempDir } from "../../helpers/cli.js";

const TOKENIZER = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "..", "fixtures", "base", "tokenizer.json"), "utf8"));
const model: ModelConfig = { vocabSize: 2048, dModel: 4, nLayers: 1, nHeads: 2, contextLength: 8, ropeBase: 10000, qkNorm: false, zLoss: 0, tiedEmbeddings: false, normEps: 1e-5, initStd: 0.02 };

function data(step: number, tag: CheckpointTag = "good"): CheckpointData {
  const weights = new Map(parameterSpecs(model).map((s, k) => [s.name, Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, (_, i) => step + k + i / 100)]));
  const m = new Map([...weights].map(([n, w]) => [n, w.map((x) => x / 10)]));
  return {
    state: { format: "mtx-checkpoint/1", step, tokens: step * 64, flops: 0, lr: 1e-3, model, tag, hasOptimizer: true, optimizerStep: step, rng: {}, dataCursor: { epoch: 0, doc: step, offset: 0, emitted: step }, plugins: {}, trainer: {}, config: {}, backend: "wasm", versions: {}, createdAt: "" },
    weights,
    optimizer: { step, m, v: m },
    tokenizerJson: TOKENIZER,
  };
}

describe("checkpoints", () => {
  it("save then load returns identical weights, moments and state", () => {
    const root = tempDir();
    const dir = saveCheckpoint(root, data(5));
    const back = loadCheckpoint(dir);
    expect(back.state.step).toBe(5);
    expect(back.state.dataCursor).toEqual({ epoch: 0, doc: 5, offset: 0, emitted: 5 });
    for (const [n, w] of data(5).weights) expect(back.weights.get(n)).toEqual(w);
    expect(back.optimizer!.step).toBe(5);
    expect(back.optimizer!.m.get("embed.weight")).toEqual(data(5).optimizer!.m.get("embed.weight"));
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    expect(Object.keys(manifest.files).sort()).toEqual(["model.safetensors", "optimizer.safetensors", "state.json", "tokenizer.json"]);
  });

  it("names the file when a byte is flipped or a file is truncated, and the previous checkpoint still loads", () => {
    const root = tempDir();
    saveCheckpoint(root, data(1));
    const bad = saveCheckpoint(root, data(2));
    const model = join(bad, "model.safetensors");
    const bytes = readFileSync(model);
    bytes[bytes.length - 5] ^= 0xff;
    writeFileSync(model, bytes);
    expect(() => loadCheckpoint(bad)).toThrow(CheckpointError);
    expect(() => loadCheckpoint(bad)).toThrow(/model\.safetensors: sha256 does not match/);
    truncateSync(join(bad, "optimizer.safetensors"), 100);
    writeFileSync(model, (bytes[bytes.length - 5] ^= 0xff, bytes));
    expect(() => loadCheckpoint(bad)).toThrow(/optimizer\.safetensors: 100 bytes where the manifest records/);
    expect(loadCheckpoint(join(root, "step-1")).state.step).toBe(1);
  });

  it("never lists a half-written checkpoint, and keeps the last N plus the newest good one", () => {
    const root = tempDir();
    saveCheckpoint(root, data(1, "good"), { keepLast: 2 });
    saveCheckpoint(root, data(2, "suspect"), { keepLast: 2 });
    saveCheckpoint(root, data(3, "suspect"), { keepLast: 2 });
    expect(listCheckpoints(root)).toEqual([1, 2, 3]);
    expect(latestGoodCheckpoint(root)).toBe(join(root, "step-1"));
    saveCheckpoint(root, data(4, "good"), { keepLast: 2 });
    expect(listCheckpoints(root)).toEqual([3, 4]);
    // A crash mid-write leaves only a temporary directory, which is not a checkpoint.
    writeFileSync(join(root, "step-9-partial"), "");
    expect(listCheckpoints(root)).toEqual([3, 4]);
    expect(readdirSync(root).some((n) => n.startsWith(".tmp-"))).toBe(false);
    expect(existsSync(join(root, "step-4", "manifest.json"))).toBe(true);
  });

  it("refuses to write weights that do not fit the model config, and leaves no checkpoint behind", () => {
    const root = tempDir();
    const d = data(1);
    d.weights.set("norm.weight", new Float32Array(3));
    expect(() => saveCheckpoint(root, d)).toThrow(/tensor 'norm.weight': shape \[4\] needs 4 values, got 3/);
    expect(listCheckpoints(root)).toEqual([]);
  });

  describe("every file is checked before anything is allocated, and errors name the file and field", () => {
    /** Replace a file of a checkpoint and update the manifest, as a careful forger (or a buggy tool) would. */
    function forge(dir: string, name: string, content: Buffer | string): void {
      const buf = Buffer.isBuffer(content) ? content : Buffer.from(content);
      writeFileSync(join(dir, name), buf);
      const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
      manifest.files[name] = { sha256: createHash("sha256").update(buf).digest("hex"), bytes: buf.length };
      writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
    }
    const fresh = () => saveCheckpoint(tempDir(), data(3));
    const state = (dir: string) => JSON.parse(readFileSync(join(dir, "state.json"), "utf8"));
    /** Rewrite a safetensors header in place (same data section). */
    function rewriteHeader(dir: string, name: string, edit: (h: Record<string, { shape: number[]; dtype: string; data_offsets: number[] }>) => void): void {
      const buf = readFileSync(join(dir, name));
      const n = Number(buf.readBigUInt64LE(0));
      const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
      edit(header);
      let json = JSON.stringify(header);
      json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
      const head = Buffer.alloc(8);
      head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
      forge(dir, name, Buffer.concat([head, Buffer.from(json), buf.subarray(8 + n)]));
    }

    it("state.json that is not JSON", () => {
      const dir = fresh();
      forge(dir, "state.json", "{ not json");
      expect(() => loadCheckpoint(dir)).toThrow(/state\.json: not valid JSON/);
    });

    it("state.json with an absurd or missing model field", () => {
      const dir = fresh();
      forge(dir, "state.json", JSON.stringify({ ...state(dir), model: { ...state(dir).model, nLayers: 1e9 } }));
      expect(() => loadCheckpoint(dir)).toThrow(/state\.json: not a valid mtx checkpoint file:\n\s+model\.nLayers: got 1000000000; must be <= 1024/);
      const dir2 = fresh();
      const { model: _m, ...noModel } = state(dir2);
      forge(dir2, "state.json", JSON.stringify(noModel));
      expect(() => loadCheckpoint(dir2)).toThrow(/state\.json: .*\n\s+model: is required/);
      const dir3 = fresh();
      forge(dir3, "state.json", JSON.stringify({ ...state(dir3), model: { ...state(dir3).model, nHeads: 3 } }));
      expect(() => loadCheckpoint(dir3)).toThrow(/state\.json: the model config is not buildable: model\.dModel \(4\) must be divisible by model\.nHeads \(3\)/);
    });

    it("a truncated or malformed tokenizer.json", () => {
      const dir = fresh();
      const text = readFileSync(join(dir, "tokenizer.json"), "utf8");
      forge(dir, "tokenizer.json", text.slice(0, text.length / 2));
      expect(() => loadCheckpoint(dir)).toThrow(/tokenizer\.json: not valid JSON/);
      forge(dir, "tokenizer.json", JSON.stringify({ ...JSON.parse(text), model: { type: "BPE", vocab: [] } }));
      expect(() => loadCheckpoint(dir)).toThrow(/tokenizer\.json: not a byte-level BPE tokenizer\.json \(model\.vocab is not an object of token ids\)/);
      forge(dir, "tokenizer.json", JSON.stringify({ ...JSON.parse(text), model: { ...JSON.parse(text).model, merges: "a b" } }));
      expect(() => loadCheckpoint(dir)).toThrow(/model\.merges is not a list/);
    });

    it("a manifest without files", () => {
      const dir = fresh();
      writeFileSync(join(dir, "manifest.json"), JSON.stringify({ format: "mtx-checkpoint/1", step: 3 }));
      expect(() => loadCheckpoint(dir)).toThrow(/manifest\.json: not a valid mtx checkpoint file:\n\s+files: is required/);
    });

    it("a safetensors header whose shape is not an array, or whose tensor is unknown or misshapen", () => {
      const dir = fresh();
      rewriteHeader(dir, "model.safetensors", (h) => ((h["norm.weight"] as { shape: unknown }).shape = "4"));
      expect(() => loadCheckpoint(dir)).toThrow(/model\.safetensors: not a valid safetensors file \(tensor 'norm\.weight' has shape "4", not a list of non-negative integers\)/);
      const dir2 = fresh();
      rewriteHeader(dir2, "model.safetensors", (h) => {
        h["extra.weight"] = h["norm.weight"]!;
      });
      expect(() => loadCheckpoint(dir2)).toThrow(/model\.safetensors: unexpected tensor 'extra\.weight'/);
      const dir3 = fresh();
      rewriteHeader(dir3, "model.safetensors", (h) => (h["norm.weight"]!.shape = [2, 2]));
      expect(() => loadCheckpoint(dir3)).toThrow(/model\.safetensors: tensor 'norm\.weight' has shape \[2,2\], the model config in state\.json needs \[4\]/);
    });

    it("an optimizer moment of the wrong size", () => {
      const dir = fresh();
      rewriteHeader(dir, "optimizer.safetensors", (h) => (h["m.norm.weight"]!.shape = [2, 2]));
      expect(() => loadCheckpoint(dir)).toThrow(/optimizer\.safetensors: moment 'm\.norm\.weight' has shape \[2,2\], its parameter has \[4\]/);
    });

    it("a dtype named after an Object.prototype member", () => {
      const dir = fresh();
      rewriteHeader(dir, "model.safetensors", (h) => (h["norm.weight"]!.dtype = "constructor"));
      expect(() => loadCheckpoint(dir)).toThrow(/unsupported dtype "constructor"/);
    });
  });
});

describe("checkpoints whose files an engine writes", () => {
  it("records a file over 2 GiB (past one read's limit) in the manifest with its size and sha256", async () => {
    const root = tempDir();
    const big = 2 ** 31 + 3; // sparse: no disk blocks, read back as zeros
    const { state, tokenizerJson } = data(7);
    const dir = await saveCheckpointWith(root, state, tokenizerJson, async (tmp) => {
      writeFileSync(join(tmp, "optimizer.safetensors"), "");
      truncateSync(join(tmp, "optimizer.safetensors"), big);
    });
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { files: Record<string, { bytes: number; sha256: string }> };
    const h = createHash("sha256");
    const zeros = Buffer.alloc(1 << 24);
    for (let left = big; left > 0; left -= zeros.length) h.update(zeros.subarray(0, Math.min(left, zeros.length)));
    expect(manifest.files["optimizer.safetensors"]).toEqual({ bytes: big, sha256: h.digest("hex") });
    expect(manifest.files["state.json"]!.bytes).toBe(readFileSync(join(dir, "state.json")).length);
  });
});
