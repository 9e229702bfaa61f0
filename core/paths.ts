/** Locations inside the installed mtx package (fixtures, schemas), independent of the working directory. */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The npm package name (the command is `mtx`). */
export const PACKAGE_NAME = "mtx-harness";

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === PACKAGE_NAME) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the mtx package root");
    dir = up;
  }
}

export const PACKAGE_ROOT = findRoot();
export const BUNDLED_BASE = join(PACKAGE_ROOT, "fixtures", "base");
export const BUNDLED_TOKENIZER = join(BUNDLED_BASE, "tokenizer.json");
/** The compiled probe worker that piscina threads load (workers run JavaScript, never the TS sources). */
export const PROBE_WORKER = join(PACKAGE_ROOT, "dist", "probes", "worker.js");
/** The compiled probe runner, for probes of models in other processes (they run on the main thread). */
export const PROBE_RUNNER = join(PACKAGE_ROOT, "dist", "probes", "run.js");
/** The compiled data-parallel replica (core/parallel/worker.ts). */
export const GRADIENT_WORKER = join(PACKAGE_ROOT, "dist", "core", "parallel", "worker.js");

/** `bundled` means the shipped base model; anything else is a path relative to the working directory. */
/** An mtx checkpoint directory (or `bundled`); model sources that may be `hf:DIR` go through interop/modelSource.ts. */
export function resolveCheckpointPath(from: string): string {
  return from === "bundled" ? BUNDLED_BASE : resolve(from);
}

export function resolveTokenizerPath(path: string): string {
  return path === "bundled" ? BUNDLED_TOKENIZER : resolve(path);
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }).version;
}
