/**
 * Loading a user's module (a plugin, a probe) by file path or npm package name, with errors that say which
 * it was and how to fix it. Paths resolve against `cwd` (the config's or suite's directory); packages from
 * `cwd`'s node_modules first, then mtx's.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** A spec that names a file rather than a package or a built-in. */
export function isModulePath(spec: string): boolean {
  return spec.startsWith(".") || isAbsolute(spec) || /\.(c|m)?js$/.test(spec);
}

/** How to fix the usual module-format mistakes. */
export function moduleSyntaxHint(cause: unknown): string {
  const m = (cause as Error)?.message ?? "";
  if (/Unexpected token 'export'|Cannot use import statement outside a module/.test(m)) {
    return ". The file uses ES module syntax (import/export) but Node loads it as CommonJS: rename it to .mjs, or add \"type\": \"module\" to the package.json next to it";
  }
  if (/require is not defined in ES module scope|module is not defined in ES module scope/.test(m)) {
    return ". The file uses CommonJS (require/module.exports) but Node loads it as an ES module: rename it to .cjs, or use export default";
  }
  return "";
}

/**
 * Import `spec`; returns the module and the URL it was loaded from (what a worker thread imports).
 * `fail` makes the error to throw; `unknown` words the message for a package that is not installed.
 */
export async function importUserModule(spec: string, cwd: string, kind: string, fail: (message: string, cause?: unknown) => Error, unknown: () => string): Promise<{ mod: Record<string, unknown>; url: string }> {
  if (isModulePath(spec)) {
    const abs = resolve(cwd, spec);
    if (!existsSync(abs)) throw fail(`${kind} file '${spec}' does not exist (resolved to ${abs})`);
    const url = pathToFileURL(abs).href;
    try {
      return { mod: (await import(url)) as Record<string, unknown>, url };
    } catch (cause) {
      throw fail(`${kind} file '${spec}' failed to load: ${(cause as Error).message}${moduleSyntaxHint(cause)}`, cause);
    }
  }
  let url = spec;
  try {
    url = pathToFileURL(createRequire(join(cwd, "package.json")).resolve(spec)).href;
  } catch {
    // Not resolvable for require (an ESM-only package, or not installed): let import() decide.
  }
  try {
    return { mod: (await import(url)) as Record<string, unknown>, url };
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND" && (cause as Error).message.includes(`'${spec}'`);
    if (missing) throw fail(unknown(), cause);
    throw fail(`${kind} package '${spec}' failed to load: ${(cause as Error).message}${moduleSyntaxHint(cause)}`, cause);
  }
}
