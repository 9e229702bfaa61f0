/**
 * The data a run trains and evaluates on: the recipe's mixture (built once, then cached), a mixture
 * stream for training, and fixed held-out batches for evaluation: the general (replay) held-out set for
 * the headline held-out loss and bits per byte, plus one batch per other source for per-source numbers.
 */
import type { EffectiveConfig } from "../config/types.js";
import type { Batch } from "./batch.js";
import { buildMixture, type BuiltMixture } from "./mixture/build.js";
import { mixtureKey, readCachedMixture, writeCachedMixture } from "./mixture/cache.js";
import { MixtureStream } from "./mixture/MixtureStream.js";
import { loadRecipe, type LoadedRecipe } from "./mixture/recipe.js";
import { PackedStream } from "./PackedStream.js";
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
  const hit = opts.cache === false ? undefined : readCachedMixture(key, loaded.recipe);
  if (hit) return { loaded, mixture: hit, cached: true };
  const mixture = buildMixture(loaded.recipe, { strict: opts.strict, cwd });
  if (opts.cache !== false) writeCachedMixture(key, mixture);
  return { loaded, mixture, cached: false };
}

function heldoutBatches(docs: BuiltMixture["heldout"][string], tokenizer: Tokenizer, seqLen: number, batchSize: number, seed: number, batches: number): Batch[] {
  if (!docs.length) return [];
  const stream = new PackedStream({ documents: docs, tokenizer, seqLen, batchSize, seed, shuffle: false });
  return Array.from({ length: batches }, () => stream.next());
}

export function buildRunData(config: EffectiveConfig, tokenizer: Tokenizer, seqLen: number, log?: DataLog): RunData {
  const { loaded, mixture, cached } = prepareMixture(config.data.recipe, { strict: config.data.strict, cache: config.data.cache, log });
  log?.info(`data: recipe '${loaded.recipe.name}' (${loaded.recipe.groups.map((g) => `${g.name} ${(g.weight * 100).toFixed(0)}%`).join(", ")})${cached ? " from cache" : ""}`);
  for (const issue of mixture.issues.slice(0, 5)) log?.warn(`data: ${issue.file}${issue.line ? `:${issue.line}` : ""}: ${issue.message}`);
  if (mixture.issues.length > 5) log?.warn(`data: ${mixture.issues.length} bad records in all (see 'mtx data inspect')`);
  const train = new MixtureStream({ groups: mixture.groups, tokenizer, seqLen, batchSize: config.data.batchSize, seed: config.seed });
  const replaySources = new Set(mixture.groups.filter((g) => g.replay).flatMap((g) => g.documents.map((d) => d.source)));
  const general = Object.entries(mixture.heldout).filter(([s]) => replaySources.size === 0 || replaySources.has(s));
  const others = Object.entries(mixture.heldout).filter(([s]) => replaySources.size > 0 && !replaySources.has(s));
  const heldout = heldoutBatches(general.flatMap(([, d]) => d), tokenizer, seqLen, config.data.batchSize, config.seed, config.eval.batches);
  const heldoutBySource = others.flatMap(([, d]) => heldoutBatches(d, tokenizer, seqLen, config.data.batchSize, config.seed, 1));
  return { train, heldout, heldoutBySource, mixture, recipe: loaded };
}
