/**
 * On-disk cache of built mixtures. Building the default recipe (loading, MinHash, decontamination) takes
 * ~15 s; a run, a probe or a test that uses the same recipe and the same sources reads the result back in
 * well under a second. The key covers the resolved recipe, the data code itself (every file of
 * core/data), the mtx version and, for user sources, each file's path, size and modification time.
 * Location: $MTX_CACHE_DIR, else node_modules/.cache/mtx in the mtx package. Writes are atomic.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { writeFileAtomic } from "../../io/files.js";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { packageVersion, PACKAGE_ROOT } from "../../paths.js";
import type { BuiltMixture } from "./build.js";
import type { ResolvedRecipe } from "./recipe.js";

// The data code's TypeScript sources when they are there (a checkout: the CLI and the tests then share
// cache entries), else the compiled files next to this module (an installed package).
const SOURCE_DIR = join(PACKAGE_ROOT, "core", "data");
const DATA_CODE_DIR = existsSync(join(SOURCE_DIR, "pipeline.ts")) ? SOURCE_DIR : resolve(dirname(fileURLToPath(import.meta.url)), "..");
let codeHash: string | undefined;

function hashTree(dir: string, h: ReturnType<typeof createHash>): void {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) hashTree(p, h);
    else if (/\.(js|ts)$/.test(name) && !name.endsWith(".d.ts")) h.update(name).update(readFileSync(p));
  }
}

function dataCodeHash(): string {
  if (!codeHash) {
    const h = createHash("sha256");
    hashTree(DATA_CODE_DIR, h);
    codeHash = h.digest("hex");
  }
  return codeHash;
}

function fingerprint(path: string, out: string[]): void {
  if (!existsSync(path)) return;
  const st = statSync(path);
  if (st.isDirectory()) for (const n of readdirSync(path).sort()) fingerprint(join(path, n), out);
  else out.push(`${path}:${st.size}:${st.mtimeMs}`);
}

export function cacheDir(): string {
  return process.env.MTX_CACHE_DIR ? resolve(process.env.MTX_CACHE_DIR) : join(PACKAGE_ROOT, "node_modules", ".cache", "mtx", "mixtures");
}

export function mixtureKey(recipe: ResolvedRecipe, cwd: string, strict: boolean): string {
  const files: string[] = [];
  for (const g of recipe.groups) for (const s of g.sources) if (typeof s === "object" && s.path) fingerprint(resolve(cwd, s.path), files);
  const { origin: _origin, ...content } = recipe;
  return createHash("sha256").update(JSON.stringify({ content, files, strict, version: packageVersion(), code: dataCodeHash() })).digest("hex").slice(0, 32);
}

export function readCachedMixture(key: string, recipe: ResolvedRecipe): BuiltMixture | undefined {
  const path = join(cacheDir(), `${key}.json`);
  if (!existsSync(path)) return undefined;
  try {
    const cached = JSON.parse(readFileSync(path, "utf8")) as Omit<BuiltMixture, "recipe">;
    return { ...cached, recipe, groups: cached.groups.map((g, i) => ({ ...recipe.groups[i]!, documents: g.documents })) };
  } catch {
    return undefined; // unreadable: rebuild
  }
}

export function writeCachedMixture(key: string, built: BuiltMixture): void {
  try {
    const dir = cacheDir();
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${key}.json`);
    const { recipe: _recipe, ...rest } = built;
    writeFileAtomic(path, JSON.stringify(rest));
  } catch {
    // A read-only install still works, just without the cache.
  }
}
