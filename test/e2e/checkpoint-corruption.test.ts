// A flipped byte or a truncated file in a checkpoint: exit 2 and a message naming the file; the previous
// checkpoint still loads.
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { mtx, tempDir, tinyConfig } from "../helpers/cli.js";

describe("corrupt checkpoints", () => {
  let dir = "";
  let ckpts = "";
  beforeAll(() => {
    dir = tempDir();
    writeFileSync(join(dir, "c.json"), JSON.stringify(tinyConfig({ steps: 10, checkpoint: { every: 5, keepLast: 5 } })));
    const r = mtx(["train", "--config", join(dir, "c.json"), "--out", join(dir, "run")]);
    expect(r.code, r.stderr).toBe(0);
    ckpts = join(dir, "run", "checkpoints");
  });

  const startFrom = (ckpt: string) => mtx(["train", "--config", join(dir, "c.json"), "--from", ckpt, "--steps", "1", "--out", join(tempDir(), "r")]);

  it("a flipped byte in the weights: exit 2 naming model.safetensors; the previous checkpoint loads", () => {
    const file = join(ckpts, "step-10", "model.safetensors");
    const bytes = readFileSync(file);
    bytes[1000] ^= 0x01;
    writeFileSync(file, bytes);
    const r = startFrom(join(ckpts, "step-10"));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}: sha256 does not match the manifest`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(startFrom(join(ckpts, "step-5")).code).toBe(0);
  });

  it("a truncated optimizer file: exit 2 naming optimizer.safetensors", () => {
    const file = join(ckpts, "step-5", "optimizer.safetensors");
    const copy = readFileSync(file);
    truncateSync(file, 4096);
    const r = startFrom(join(ckpts, "step-5"));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}: 4096 bytes where the manifest records ${copy.length}`);
    writeFileSync(file, copy);
    expect(startFrom(join(ckpts, "step-5")).code).toBe(0);
  });

  it("a directory that is not a checkpoint, and --resume with nothing to resume: exit 2", () => {
    const empty = tempDir();
    expect(startFrom(empty)).toMatchObject({ code: 2, stderr: expect.stringMatching(/manifest.json: missing or unreadable; .* is not a complete mtx checkpoint/) });
    expect(mtx(["train", "--out", empty, "--resume"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--resume: .*config.json not found/) });
  });
});
