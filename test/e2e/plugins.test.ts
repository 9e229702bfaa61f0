// Plugins from outside the project: the worked example in docs/plugins.md, copied as a reader would and
// loaded by path, halts the run; the scaffold from `mtx plugins init` passes its own test.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mtx, ROOT, tempDir, tinyConfig } from "../helpers/cli.js";

function exampleFromDocs(): { file: string; code: string } {
  const doc = readFileSync(join(ROOT, "docs", "plugins.md"), "utf8");
  const m = /```js file=([\w.-]+)\n([\s\S]*?)```/.exec(doc);
  if (!m) throw new Error("docs/plugins.md has no ```js file=... example");
  return { file: m[1]!, code: m[2]! };
}

describe("plugins written from the docs", () => {
  it("the worked example, loaded by path, halts when its condition holds", () => {
    const dir = tempDir();
    const { file, code } = exampleFromDocs();
    writeFileSync(join(dir, file), code);
    writeFileSync(join(dir, "mtx.config.json"), JSON.stringify(tinyConfig({ steps: 40, plugins: [{ name: `./${file}`, options: { ceiling: 1.0, after: 5, patience: 3 } }] })));
    const r = mtx(["train", "--out", join(dir, "run")], { cwd: dir });
    expect(r.code, r.stderr).toBe(3);
    const summary = JSON.parse(readFileSync(join(dir, "run", "summary.json"), "utf8"));
    expect(summary.halt).toMatchObject({ plugin: "loss-ceiling", evidence: { ceiling: 1, steps: 3 } });
    expect(summary.endStep).toBe(8); // over the ceiling from step 6, three steps of patience
    expect(r.stdout).toMatch(/halted by loss-ceiling: loss \d+\.\d+ has been above 1 for 3 steps/);
  });

  it("the same plugin with a ceiling never reached lets the run complete, and --plugins takes a path", () => {
    const dir = tempDir();
    const { file, code } = exampleFromDocs();
    writeFileSync(join(dir, file), code);
    writeFileSync(join(dir, "c.json"), JSON.stringify(tinyConfig({ steps: 10 })));
    const r = mtx(["train", "--config", "c.json", "--plugins", `./${file},spike`, "--out", "run"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/plugins: loss-ceiling, spike/);
  });

  it("mtx plugins init writes a plugin whose test passes in a fresh directory outside the repository", () => {
    const dir = tempDir("mtx-plugin-fresh-"); // under the OS temp dir: nothing of this repository resolves from here
    const r = mtx(["plugins", "init", "my-guard", "--dir", dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/npm install/);
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    expect(pkg).toMatchObject({ type: "module", devDependencies: { "mtx-harness": expect.stringMatching(/^\^\d+\.\d+\.\d+$/) }, scripts: { test: "node --test my-guard.test.js" } });
    // What the printed instructions say: install mtx, then test. No registry holds it yet, so the package is
    // packed from this checkout as `npm publish` would pack it (its `files`), and installed from the tarball:
    // a file the package forgets is missing here. --ignore-scripts: globalSetup has built dist/ already.
    execFileSync("npm", ["pack", "--ignore-scripts", "--pack-destination", dir], { cwd: ROOT, stdio: "pipe" });
    const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"))!;
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-dev", `./${tarball}`], { cwd: dir, stdio: "pipe" });
    const out = execFileSync("npm", ["test"], { cwd: dir, encoding: "utf8" });
    expect(out).toMatch(/# pass 2/);
    expect(out).toMatch(/# fail 0/);
    // The installed package reads checkpoints (their schemas) and carries the PyTorch engine's Python package.
    const generated = execFileSync("npx", ["mtx", "generate", "--checkpoint", "bundled", "--prompt", "The", "--max-tokens", "4", "--json"], { cwd: dir, encoding: "utf8" });
    expect((JSON.parse(generated) as { completionTokens: number[] }).completionTokens).toHaveLength(4);
    const installed = join(dir, "node_modules", "mtx-harness");
    for (const f of ["core/torch/mtx_torch/engine.py", "core/torch/mtx_torch/guard.py", "core/torch/requirements.txt", "core/checkpoint/schema/state.schema.json", "suites/ci.json", "dist/probes/worker.js"]) expect(existsSync(join(installed, f)), f).toBe(true);
    expect(mtx(["plugins", "init", "my-guard", "--dir", dir])).toMatchObject({ code: 2, stderr: expect.stringMatching(/already exists/) });
    expect(mtx(["plugins", "init", "Bad Name"])).toMatchObject({ code: 2 });
  });
});
