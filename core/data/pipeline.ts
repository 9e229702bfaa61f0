/**
 * The data a run trains and evaluates on: the recipe's mixture (built once, then cached), a mixture
 * stream for training, and fixed held-out batches for evaluation: the general (replay) held-out set for
 * the headline held-out loss and bits per byte, plus one batch per other source for per-source numbers.
 */
import type { EffectiveConfig } from "../config/types.js";
import type { Batch, SampleInfo } from "./batch.js";
import type { Document } from "./documents.js";
import { buildMixture, type BuiltMixture } from "./mixture/build.js";
import { mixtureKey, readCachedMixture, writeCachedMixture } from "./mixture/cache.js";
import { MixtureStream } from "./mixture/MixtureStream.js";
import { loadRecipe, type LoadedRecipe } from "./mixture/recipe.js";
import type { Tokenizer } from "./tokenizer/Tokenizer.js";

export interface RunData {
  train: MixtureStream;
  /** Fixed held-out batches of the general (replay) sources: the headline held-out score. */
  heldout: Batch[];
  /** One fixed held-out batch per other source with held-out documents. */
  heldoutBySource: Batch[];
  mixture: BuiltMixture;
  recipe: LoadedRecipe;
}

export interface DataLog {
  info(message: string): void;
  warn(message: string): void;
}

/** Load a recipe and build its mixture, from the cache when possible. */
export function prepareMixture(spec: string, opts: { strict?: boolean; cache?: boolean; cwd?: string; log?: DataLog } = {}): { loaded: LoadedRecipe; mixture: BuiltMixture; cached: boolean } {
  const cwd = opts.cwd ?? process.cwd();
  const loaded = loadRecipe(spec, cwd);
  for (const n of loaded.notices) opts.log?.info(n);
  for (const w of loaded.warnings) opts.log?.warn(w);
  const key = mixtureKey(loaded.recipe, cwd, !!opts.strict);
  // A process (a probe worker running several probes) parses the cached mixture once, not per call.
  const seen = opts.cache === false ? undefined : inProcess.get(key);
  if (seen) return { loaded, mixture: seen, cached: true };
  const hit = opts.cache === false ? undefined : readCachedMixture(key, loaded.recipe);
  const log = opts.log;
  const mixture = hit ?? buildMixture(loaded.recipe, { strict: opts.strict, cwd, log: log ? (line) => log.info(line) : undefined });
  if (!hit && opts.cache !== false) writeCachedMixture(key, mixture);
  if (opts.cache !== false) inProcess.set(key, mixture);
  return { loaded, mixture, cached: !!hit };
}

/** Built mixtures already parsed in this process, by cache key (consumers only read them). */
const inProcess = new Map<string, BuiltMixture>();

/**
 * Fixed evaluation batches that cover many documents: every document's first window of T+1 tokens,
 * then every document's second window, and so on (documents of several sources interleaved), until
 * `batches` batches are full. A contiguous stream would spend a small evaluation on one document.
 */
export function heldoutBatches(docs: Document[], tokenizer: Tokenizer, seqLen: number, batchSize: number, batches: number): Batch[] {
  const need = batches * batchSize;
  const windows: { inputs: Int32Array; targets: Int32Array; sample: SampleInfo }[] = [];
  const tokens = docs.map((d) => {
    const ids = tokenizer.encode(d.text);
    const t = new Int32Array(ids.length + 1);
    t.set(ids);
    t[ids.length] = tokenizer.eosId;
    return t;
  });
  for (let w = 0; windows.length < need; w++) {
    let any = false;
    for (let i = 0; i < docs.length && windows.length < need; i++) {
      const t = tokens[i]!;
      const start = w * seqLen;
      if (start + seqLen + 1 > t.length) continue;
      any = true;
      windows.push({
        inputs: t.slice(start, start + seqLen),
        targets: t.slice(start + 1, start + seqLen + 1),
        sample: { id: `heldout:${docs[i]!.id}@${start}`, source: docs[i]!.source, documents: [docs[i]!.id], boundaries: [] },
      });
    }
    if (!any) break;
  }
  const out: Batch[] = [];
  for (let b = 0; b + batchSize <= windows.length; b += batchSize) {
    const part = windows.slice(b, b + batchSize);
    const inputs = new Int32Array(batchSize * seqLen);
    const targets = new Int32Array(batchSize * seqLen);
    part.forEach((w, k) => {
      inputs.set(w.inputs, k * seqLen);
      targets.set(w.targets, k * seqLen);
    });
    out.push({ size: batchSize, seqLen, inputs, targets, samples: part.map((w) => w.sample) });
  }
  return out;
}

/** Documents of several lists in round-robin order (first of each, then second of each, ...). */
export function interleave(lists: Document[][]): Document[] {
  const out: Document[] = [];
  for (let i = 0; lists.some((d) => i < d.length); i++) for (const d of lists) if (i < d.length) out.push(d[i]!);
  return out;
}

/** The sources of the recipe's replay (general-data) groups, in recipe order, each once. */
export function replaySources(mixture: BuiltMixture): string[] {
  return [...new Set(mixture.groups.filter((g) => g.replay).flatMap((g) => g.documents.map((d) => d.source)))];
}

/** Held-out documents of the replay sources, interleaved source by source (what general probes read). */
export function heldoutReplay(mixture: BuiltMixture): Document[] {
  return interleave(replaySources(mixture).map((s) => mixture.heldout[s] ?? []));
}

export function buildRunData(config: EffectiveConfig, tokenizer: Tokenizer, seqLen: number, log?: DataLog): RunData {
  const { loaded, mixture, cached } = prepareMixture(config.data.recipe, { strict: config.data.strict, cache: config.data.cache, log });
  log?.info(`data: recipe '${loaded.recipe.name}' (${loaded.recipe.groups.map((g) => `${g.name} ${(g.weight * 100).toFixed(0)}%`).join(", ")})${cached ? " from cache" : ""}`);
  for (const issue of mixture.issues.slice(0, 5)) log?.warn(`data: ${issue.file}${issue.line ? `:${issue.line}` : ""}: ${issue.message}`);
  if (mixture.issues.length > 5) log?.warn(`data: ${mixture.issues.length} bad records in all (see 'mtx data inspect')`);
  const train = new MixtureStream({ groups: mixture.groups, tokenizer, seqLen, batchSize: config.data.batchSize, seed: config.seed });
  const replay = new Set(replaySources(mixture));
  const general = Object.entries(mixture.heldout).filter(([s]) => replay.size === 0 || replay.has(s));
  const others = Object.entries(mixture.heldout).filter(([s]) => replay.size > 0 && !replay.has(s));
  const heldout = heldoutBatches(interleave(general.map(([, d]) => d)), tokenizer, seqLen, config.data.batchSize, config.eval.batches);
  const heldoutBySource = others.flatMap(([, d]) => heldoutBatches(d, tokenizer, seqLen, config.data.batchSize, 1));
  return { train, heldout, heldoutBySource, mixture, recipe: loaded };
}

/** A batch as token rows with a source label per row (what scoring needs; no provenance). */
export function labelledRows(b: Batch): { inputs: Int32Array; targets: Int32Array; size: number; seqLen: number; sources: string[] } {
  return { inputs: b.inputs, targets: b.targets, size: b.size, seqLen: b.seqLen, sources: b.samples.map((s) => s.source) };
}
