// Builds dist/ once so end-to-end tests run the same CLI users get from `npm ci`, builds the test recipes'
// mixtures once, and makes sure mtx's Python environment (torch and the libraries the tests check against:
// transformers, gguf, lm-eval, tensorboard) is installed: the first `npm test` on a machine installs it.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

export default function setup(): () => void {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  // Every temporary file of the run (test directories, engine sockets, the CLI's and Python's own temp
  // files) goes under one directory that is removed when the run ends: a suite run leaves no gigabytes behind.
  const suiteTmp = mkdtempSync(join(tmpdir(), "mtx-suite-"));
  chmodSync(suiteTmp, 0o755); // as mkdtemp's 0700 would not: the permission test runs a step as `nobody`
  process.env.TMPDIR = suiteTmp;
  execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });
  // Build the bundled and the tiny test recipes' mixtures once, so parallel test files and probe workers
  // read them from the cache instead of each building them.
  execFileSync(process.execPath, ["-e", "const p = await import('./dist/core/data/pipeline.js'); p.prepareMixture('bundled'); p.prepareMixture('test/fixtures/tiny-recipe.json');", "--input-type=module"], { cwd: root, stdio: "inherit" });
  execFileSync(process.execPath, [join(root, "dist", "cli", "bin.js"), "doctor", "--install", "--tests"], { cwd: root, stdio: "inherit" });
  return () => rmSync(suiteTmp, { recursive: true, force: true });
}
