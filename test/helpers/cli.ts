/** Spawns the built CLI (dist/cli/bin.js) as users run it. */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BIN = join(ROOT, "dist", "cli", "bin.js");
export const TOKENIZER = join(ROOT, "fixtures", "base", "tokenizer.json");
/** A small, fast recipe: Brown as replay and 400 synthetic math problems. */
export const TINY_RECIPE = join(ROOT, "test", "fixtures", "tiny-recipe.json");

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function mtx(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", ...opts.env } });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Start the CLI without waiting; the caller kills or awaits it. */
export function mtxAsync(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, NO_COLOR: "1", ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

export function tempDir(prefix = "mtx-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A tiny model config (trains in well under a second per step) using the bundled tokenizer. */
export function tinyConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    from: null,
    tokenizer: TOKENIZER,
    backend: "wasm",
    seed: 7,
    model: { dModel: 32, nLayers: 2, nHeads: 2, contextLength: 32 },
    data: { batchSize: 4, recipe: TINY_RECIPE },
    schedule: { peakLr: 0.003, warmupSteps: 2, minLr: 0.0003 },
    eval: { every: 0, batches: 1 },
    checkpoint: { every: 5, keepLast: 10 },
    log: { every: 1000 },
    ...extra,
  };
}

/** mtx's Python (the test set-up installs it), for tests that run Python scripts against mtx. */
export const PYTHON = join(process.env.MTX_VENV ?? join(ROOT, ".venv"), "bin", "python");
/** The engine's Python package, for PYTHONPATH. */
export const TORCH_PACKAGE = join(ROOT, "core", "torch");
