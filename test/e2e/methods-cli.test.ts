// The method flags as users type them: an adapter stage from a checkpoint, `mtx merge` folding the
// adapters in (and refusing a checkpoint without any), a freeze stage, a context-extension stage, and
// flag mistakes as exit 2 with the flag named.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadCheckpoint } from "../../core/checkpoint/Checkpoint.js";
import { mtx, tempDir, tinyConfig } from "../helpers/cli.js";
import { writeFileSync } from "node:fs";

describe("method flags and mtx merge", () => {
  let dir = "";
  let config = "";
  let start = "";
  beforeAll(() => {
    dir = tempDir();
    config = join(dir, "tiny.json");
    writeFileSync(config, JSON.stringify(tinyConfig({ checkpoint: { every: 0, keepLast: 2 } })));
    const r = mtx(["train", "--config", config, "--steps", "2", "--out", join(dir, "start"), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    start = JSON.parse(r.stdout).lastCheckpoint;
  });

  it("trains adapters with --lora-rank, prints the trainable count, and merges them with mtx merge", () => {
    const r = mtx(["train", "--config", config, "--from", start, "--steps", "2", "--out", join(dir, "lora"), "--lora-rank", "2", "--lora-targets", "*.attn.wq,*.mlp.gate"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/trainable: 768 of [\d,]+ parameters .*adapters rank 2 on 4 matrices/);
    const ckpt = join(dir, "lora", "checkpoints", "step-2");
    expect(existsSync(join(ckpt, "adapters.safetensors"))).toBe(true);
    const m = mtx(["merge", "--checkpoint", ckpt, "--out", join(dir, "merged"), "--moments-from", start]);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/merged adapters on 4 matrices/);
    const merged = loadCheckpoint(join(dir, "merged"));
    expect(merged.state.model.adapters).toBeNull();
    expect(merged.optimizer).toBeDefined();
    // Exported straight from the adapter checkpoint, the adapters are folded in on the way out: the same
    // tensors, byte for byte, as exporting the merged checkpoint.
    const direct = mtx(["export", "--checkpoint", ckpt, "--format", "hf", "--out", join(dir, "hf-direct")]);
    expect(direct.code, direct.stderr).toBe(0);
    expect(direct.stdout).toMatch(/adapters merged into the weights/);
    const viaMerge = mtx(["export", "--checkpoint", join(dir, "merged"), "--format", "hf", "--out", join(dir, "hf-merged")]);
    expect(viaMerge.code, viaMerge.stderr).toBe(0);
    expect(viaMerge.stdout).not.toMatch(/adapters merged/);
    expect(readFileSync(join(dir, "hf-direct", "model.safetensors")).equals(readFileSync(join(dir, "hf-merged", "model.safetensors")))).toBe(true);
    // The merged checkpoint trains on like any other.
    const again = mtx(["train", "--config", config, "--from", join(dir, "merged"), "--steps", "1", "--out", join(dir, "after-merge")]);
    expect(again.code, again.stderr).toBe(0);
  });

  it("refuses to merge a checkpoint without adapters, with exit 2 and no stack trace", () => {
    const r = mtx(["merge", "--checkpoint", start, "--out", join(dir, "nope")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/has no adapters to merge/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(existsSync(join(dir, "nope"))).toBe(false);
  });

  it("freezes with --freeze and unfreezes with --unfreeze-at", () => {
    const r = mtx(["train", "--config", config, "--from", start, "--steps", "3", "--out", join(dir, "frozen"), "--freeze", "*", "--unfreeze-at", "2"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/trainable: 0 of/);
    expect(r.stderr).toMatch(/progressive unfreezing: head trains from step 2/);
  });

  it("extends the context with --context and --rope-type", () => {
    const r = mtx(["train", "--config", config, "--from", start, "--steps", "1", "--out", join(dir, "long"), "--context", "64", "--rope-type", "ntk"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/context 64 \(RoPE ntk x2 from 32/);
  });

  it("names a bad flag value", () => {
    const r = mtx(["train", "--config", config, "--steps", "1", "--out", join(dir, "bad"), "--unfreeze-at", "10,x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--unfreeze-at: 'x' is not a step number/);
    const t = mtx(["train", "--config", config, "--steps", "1", "--out", join(dir, "bad2"), "--lora-rank", "0"]);
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/adapters\.rank/);
    // A target pattern that names no matrix of this architecture (gelu's w1 on a llama model) is a typo, not a no-op.
    const u = mtx(["train", "--config", config, "--steps", "1", "--out", join(dir, "bad3"), "--lora-rank", "2", "--lora-targets", "*.attn.wq,*.mlp.w1"]);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/'\*\.mlp\.w1' matches no weight matrix of this llama model.*mlp\.gate/);
  });
});
