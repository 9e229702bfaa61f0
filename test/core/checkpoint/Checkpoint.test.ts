import { existsSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { latestGoodCheckpoint, listCheckpoints, loadCheckpoint, saveCheckpoint, type CheckpointData, type CheckpointTag } from "../../../core/checkpoint/Checkpoint.js";
import type { ModelConfig } from "../../../core/config/types.js";
import { CheckpointError } from "../../../core/errors.js";
import { parameterSpecs } from "../../../core/model/Transformer.js";
import { tempDir } from "../../helpers/cli.js";

const model: ModelConfig = { vocabSize: 10, dModel: 4, nLayers: 1, nHeads: 2, contextLength: 8, ropeBase: 10000, qkNorm: false, zLoss: 0, tiedEmbeddings: false, normEps: 1e-5, initStd: 0.02 };

function data(step: number, tag: CheckpointTag = "good"): CheckpointData {
  const weights = new Map(parameterSpecs(model).map((s, k) => [s.name, Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, (_, i) => step + k + i / 100)]));
  const m = new Map([...weights].map(([n, w]) => [n, w.map((x) => x / 10)]));
  return {
    state: { format: "mtx-checkpoint/1", step, tokens: step * 64, flops: 0, lr: 1e-3, model, tag, hasOptimizer: true, optimizerStep: step, rng: {}, dataCursor: { epoch: 0, doc: step, offset: 0, emitted: step }, plugins: {}, trainer: {}, config: {}, backend: "wasm", versions: {}, createdAt: "" },
    weights,
    optimizer: { step, m, v: m },
    tokenizerJson: { model: { type: "BPE" } },
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
});
