/** `mtx plugins list|init`: the built-in plugins; a scaffold for a new plugin with a test. */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { ConfigError } from "../../core/errors.js";
import { PACKAGE_NAME, packageVersion } from "../../core/paths.js";
import { BUILTIN_PLUGINS } from "../../plugins/index.js";
import { runCommand } from "../output.js";

interface PluginsArgs {
  action: "list" | "init";
  name?: string;
  dir?: string;
  json?: boolean;
}

export function listText(): string {
  const defs = Object.values(BUILTIN_PLUGINS);
  const w = Math.max(...defs.map((d) => d.name.length));
  return defs.map((d) => `${d.name.padEnd(w)}  ${d.description}\n${" ".repeat(w)}  hooks: ${d.hooks.join(", ")}`).join("\n") + "\n";
}

function pluginSource(name: string): string {
  return `// ${name}: an mtx plugin. See docs/plugins.md in mtx for the contract and docs/hooks.md for every hook.
const PLUGIN_NAME = ${JSON.stringify(name)};

export default class Plugin {
  name = PLUGIN_NAME;

  constructor(options = {}) {
    // Options come from the config: { "name": "./${name}.js", "options": { ... } }.
    this.maxGradNorm = options.maxGradNorm ?? 10;
  }

  apply(trainer) {
    // Act through a verdict from a bail hook; never throw to stop the run.
    trainer.hooks.shouldSkipStep.tap(PLUGIN_NAME, (ctx) => {
      if (ctx.gradNorm <= this.maxGradNorm) return undefined;
      return {
        action: "skip",
        plugin: PLUGIN_NAME,
        reason: \`gradient norm \${ctx.gradNorm.toFixed(2)} above \${this.maxGradNorm}\`,
        evidence: { gradNorm: ctx.gradNorm, limit: this.maxGradNorm, samples: ctx.batch.samples.map((s) => s.id) },
      };
    });
  }
}
`;
}

function testSource(name: string): string {
  return `// Drives ${name}'s hooks directly: no training run needed. Run with: node --test ${name}.test.js
import assert from "node:assert/strict";
import { test } from "node:test";
import { createHooks } from "${PACKAGE_NAME}";
import Plugin from "./${name}.js";

function fakeTrainer() {
  const warnings = [];
  return { hooks: createHooks(), config: {}, runDir: ".", log: { info() {}, warn: (m) => warnings.push(m) }, warnings };
}

const step = (gradNorm) => ({ step: 1, gradNorm, loss: 3, lr: 1e-3, updateNorm: 0, skipped: false, sequenceLoss: new Float32Array(0), batch: { size: 1, seqLen: 1, inputs: new Int32Array(1), targets: new Int32Array(1), samples: [{ id: "e0:doc@0", source: "x", documents: ["doc"], boundaries: [] }] } });

test("skips a step whose gradient norm is above the limit", () => {
  const trainer = fakeTrainer();
  new Plugin({ maxGradNorm: 5 }).apply(trainer);
  const verdict = trainer.hooks.shouldSkipStep.call(step(12));
  assert.equal(verdict.action, "skip");
  assert.equal(verdict.plugin, ${JSON.stringify(name)});
  assert.deepEqual(verdict.evidence.samples, ["e0:doc@0"]);
});

test("lets a normal step through", () => {
  const trainer = fakeTrainer();
  new Plugin({ maxGradNorm: 5 }).apply(trainer);
  assert.equal(trainer.hooks.shouldSkipStep.call(step(1.5)), undefined);
});
`;
}

/** A package.json for a directory that has none: ES modules, mtx as a dev dependency, `npm test`. */
function packageSource(name: string): string {
  return (
    JSON.stringify(
      {
        name: `mtx-plugin-${name}`,
        version: "0.1.0",
        private: true,
        type: "module",
        main: `${name}.js`,
        scripts: { test: `node --test ${name}.test.js` },
        devDependencies: { [PACKAGE_NAME]: `^${packageVersion()}` },
      },
      null,
      2,
    ) + "\n"
  );
}

/**
 * Write NAME.js and NAME.test.js into `dir` (and a package.json when there is none, so the test runs in a
 * fresh directory after `npm install`); refuses to overwrite. Returns the paths.
 */
export function init(name: string, dir = "."): string[] {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new ConfigError(`plugin name '${name}' must be lower-case letters, digits and dashes, starting with a letter`);
  const root = resolve(dir);
  const files = [join(root, `${name}.js`), join(root, `${name}.test.js`)];
  for (const f of files) if (existsSync(f)) throw new ConfigError(`${f} already exists; choose another name or remove it`);
  mkdirSync(root, { recursive: true });
  writeFileSync(files[0]!, pluginSource(name));
  writeFileSync(files[1]!, testSource(name));
  const pkg = join(root, "package.json");
  if (!existsSync(pkg)) {
    writeFileSync(pkg, packageSource(name));
    files.push(pkg);
  }
  return files;
}

export const command: CommandModule<object, PluginsArgs> = {
  command: "plugins <action> [name]",
  describe: "Plugins: list the built-in ones, or init a new one (a plugin file and its test)",
  builder: (y: Argv) =>
    y
      .positional("action", { type: "string", choices: ["list", "init"], describe: "What to do" })
      .positional("name", { type: "string", describe: "init: the new plugin's name" })
      .option("dir", { type: "string", default: ".", describe: "init: where to write the files" })
      .option("json", { type: "boolean", default: false, describe: "Machine-readable output" }) as Argv<PluginsArgs>,
  handler: (argv: ArgumentsCamelCase<PluginsArgs>) =>
    runCommand(async () => {
      if (argv.action === "init") {
        if (!argv.name) throw new ConfigError("mtx plugins init needs a name, e.g. 'mtx plugins init my-guard'");
        const files = init(argv.name, argv.dir);
        const pkg = files.find((f) => f.endsWith("package.json"));
        process.stdout.write(
          `wrote ${files.join(", ")}\n` +
            (pkg ? `install mtx next to it: npm install (or npm install --save-dev <path to an mtx checkout>)\n` : `it imports ${PACKAGE_NAME}: add it to your project (npm install --save-dev ${PACKAGE_NAME})\n`) +
            `run its test: node --test ${files[1]}\nuse it: mtx train --plugins ${files[0]}\n`,
        );
        return 0;
      }
      if (argv.json) process.stdout.write(JSON.stringify(Object.values(BUILTIN_PLUGINS).map(({ name, description, hooks }) => ({ name, description, hooks }))) + "\n");
      else process.stdout.write(listText());
      return 0;
    }),
};
