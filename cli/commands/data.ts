/**
 * `mtx data build|inspect|sample|sources`: build a recipe's data into shards with a manifest, print what a
 * recipe or a built directory holds, decode a few packed training sequences, list the built-in sources.
 */
import { removeQuietly, rethrowStorage } from "../../core/io/files.js";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { Tokenizer } from "../../core/data/tokenizer/Tokenizer.js";
import { dataManifest, formatManifest, type DataManifest } from "../../core/data/mixture/manifest.js";
import { MixtureStream } from "../../core/data/mixture/MixtureStream.js";
import { prepareMixture } from "../../core/data/pipeline.js";
import { BUILTIN_SOURCES } from "../../core/data/sources/catalog.js";
import { ConfigError } from "../../core/errors.js";
import { BUNDLED_TOKENIZER } from "../../core/paths.js";
import { dim, runCommand, yellow } from "../output.js";
import cliProgress from "cli-progress";
import { loadRecipe } from "../../core/data/mixture/recipe.js";

export interface DataArgs {
  action: "build" | "inspect" | "sample" | "sources";
  dir?: string;
  recipe?: string;
  out?: string;
  strict?: boolean;
  cache?: boolean;
  n?: number;
  seed?: number;
  seqLen?: number;
  json?: boolean;
}

const lines = { info: (m: string) => process.stderr.write(dim(m) + "\n"), warn: (m: string) => process.stderr.write(yellow(m) + "\n") };

/**
 * The mixture build's log: on a TTY a progress bar over the recipe's sources and its global passes
 * (near-dedup, decontamination), with notices and warnings printed as lines; otherwise plain lines.
 */
function buildLog(recipe: string): { info: (m: string) => void; warn: (m: string) => void; done: () => void } {
  if (!process.stderr.isTTY) return { ...lines, done: () => {} };
  let total = 0;
  try {
    const r = loadRecipe(recipe).recipe;
    total = r.groups.reduce((a, g) => a + g.sources.length, 0) + (r.quality.nearDedup ? 1 : 0) + (r.quality.decontaminate ? 1 : 0);
  } catch {
    return { ...lines, done: () => {} }; // the build itself reports a bad recipe
  }
  const bar = new cliProgress.SingleBar({ format: "data |{bar}| {value}/{total} | {last}", hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic);
  let started = false;
  const step = (m: string) => {
    if (!started) bar.start(total, 0, { last: "" });
    started = true;
    bar.increment(1, { last: m.slice(0, 60) });
  };
  return {
    info: (m) => (/^(source |near-dedup|decontamination)/.test(m) ? step(m) : lines.info(m)),
    warn: lines.warn,
    done: () => started && bar.stop(),
  };
}

/** prepareMixture with the build's progress shown on a TTY (nothing to show when it comes from the cache). */
function mixtureOf(a: DataArgs) {
  const log = buildLog(a.recipe ?? "bundled");
  try {
    return prepareMixture(a.recipe ?? "bundled", { strict: a.strict, cache: a.cache, log });
  } finally {
    log.done();
  }
}

/** Build shards and a manifest into `out` (written to a temporary directory, then renamed). */
export function build(a: DataArgs): DataManifest {
  if (!a.out) throw new ConfigError("mtx data build needs --out DIR");
  const { mixture } = mixtureOf(a);
  const manifest = dataManifest(mixture, Tokenizer.load(BUNDLED_TOKENIZER));
  const out = resolve(a.out);
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    writeShards(tmp, out, mixture, manifest);
  } catch (error) {
    removeQuietly(tmp);
    rethrowStorage(error, out, "write the data build into");
  }
  return manifest;
}

function writeShards(tmp: string, out: string, mixture: ReturnType<typeof mixtureOf>["mixture"], manifest: DataManifest): void {
  rmSync(tmp, { recursive: true, force: true });
  const jsonl = (docs: { id: string; source: string; text: string; meta?: unknown }[]) => docs.map((d) => JSON.stringify({ id: d.id, source: d.source, text: d.text, meta: d.meta })).join("\n") + "\n";
  for (const g of mixture.groups) {
    mkdirSync(join(tmp, "shards", g.name), { recursive: true });
    for (const source of manifest.groups[g.name]!.sources) writeFileSync(join(tmp, "shards", g.name, `${source}.jsonl`), jsonl(g.documents.filter((d) => d.source === source)));
  }
  mkdirSync(join(tmp, "heldout"), { recursive: true });
  for (const [source, docs] of Object.entries(mixture.heldout)) if (docs.length) writeFileSync(join(tmp, "heldout", `${source}.jsonl`), jsonl(docs));
  writeFileSync(join(tmp, "manifest.json"), JSON.stringify({ ...manifest, nearDuplicateClustersAll: mixture.nearDuplicateClusters, examples: mixture.examples }, null, 2) + "\n");
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
}

export function inspect(a: DataArgs): DataManifest {
  if (a.dir) {
    const path = join(resolve(a.dir), "manifest.json");
    if (!existsSync(path)) throw new ConfigError(`'${a.dir}' is not a built data directory (no manifest.json); build one with 'mtx data build --recipe FILE --out DIR'`);
    return JSON.parse(readFileSync(path, "utf8")) as DataManifest;
  }
  const { mixture } = mixtureOf(a);
  return dataManifest(mixture, Tokenizer.load(BUNDLED_TOKENIZER), { sample: 50 });
}

export function sample(a: DataArgs): { id: string; group?: string; source: string; text: string }[] {
  const { mixture } = mixtureOf(a);
  const tokenizer = Tokenizer.load(BUNDLED_TOKENIZER);
  const seqLen = a.seqLen ?? 128;
  const stream = new MixtureStream({ groups: mixture.groups, tokenizer, seqLen, batchSize: 1, seed: a.seed ?? 1234 });
  const window = new Int32Array(seqLen + 1);
  return Array.from({ length: a.n ?? 4 }, () => {
    const info = stream.nextSequence(window);
    return { id: info.id, group: info.group, source: info.source, text: tokenizer.decode(window.subarray(0, seqLen)) };
  });
}

export function sourcesText(): string {
  const w = Math.max(...Object.keys(BUILTIN_SOURCES).map((k) => k.length));
  return Object.entries(BUILTIN_SOURCES).map(([name, s]) => `${name.padEnd(w)}  ${s.kind.padEnd(10)}  ${s.description}`).join("\n") + "\n";
}

export const command: CommandModule<object, DataArgs> = {
  command: "data <action> [dir]",
  describe: "Data mixtures: build shards, inspect a recipe or a build, sample packed sequences, list sources",
  builder: (y: Argv) =>
    y
      .positional("action", { type: "string", choices: ["build", "inspect", "sample", "sources"], describe: "What to do" })
      .positional("dir", { type: "string", describe: "inspect: a directory written by 'mtx data build'" })
      .option("recipe", { type: "string", describe: "Recipe: 'bundled', a bundled name ('general') or a path", defaultDescription: "bundled" })
      .option("out", { type: "string", describe: "build: output directory" })
      .option("strict", { type: "boolean", default: false, describe: "Make malformed records fatal instead of counted and skipped" })
      .option("cache", { type: "boolean", default: true, describe: "Reuse a cached build of an unchanged recipe (--no-cache rebuilds)" })
      .option("n", { type: "number", default: 4, describe: "sample: how many sequences" })
      .option("seed", { type: "number", default: 1234, describe: "sample: seed of the data order" })
      .option("seq-len", { type: "number", default: 128, describe: "sample: tokens per sequence" })
      .option("json", { type: "boolean", default: false, describe: "Machine-readable output" }) as Argv<DataArgs>,
  handler: (argv: ArgumentsCamelCase<DataArgs>) =>
    runCommand(async () => {
      const print = (text: string, value: unknown) => process.stdout.write(argv.json ? JSON.stringify(value) + "\n" : text);
      switch (argv.action) {
        case "build": {
          const m = build(argv);
          print(formatManifest(m) + `wrote ${resolve(argv.out!)}\n`, m);
          break;
        }
        case "inspect": {
          const m = inspect(argv);
          print(formatManifest(m), m);
          break;
        }
        case "sample": {
          const s = sample(argv);
          print(s.map((x) => `--- ${x.id} [${x.group}/${x.source}]\n${x.text}\n`).join("\n"), s);
          break;
        }
        case "sources":
          print(sourcesText(), Object.fromEntries(Object.entries(BUILTIN_SOURCES).map(([k, v]) => [k, { kind: v.kind, description: v.description }])));
          break;
      }
      return 0;
    }),
};
