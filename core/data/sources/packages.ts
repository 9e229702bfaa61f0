/** Locating data files inside installed npm packages (no downloads at run time). */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { DataError } from "../../errors.js";

const require = createRequire(import.meta.url);

/** The install directory of package `name` (works for packages whose `exports` hide package.json). */
export function packageDir(name: string): string {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    // Fall back to the main entry and walk up to the package.json that names it.
  }
  try {
    let dir = dirname(require.resolve(name));
    for (;;) {
      const pkg = join(dir, "package.json");
      if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === name) return dir;
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  } catch (cause) {
    throw new DataError(`data package '${name}' is not installed: run 'npm ci' in the mtx directory`, { cause });
  }
  throw new DataError(`data package '${name}' is not installed: run 'npm ci' in the mtx directory`);
}
