/**
 * Mixture recipes: declarative source groups with weights (schema: core/config/schema/recipe.schema.json).
 * Loading validates the file, fills defaults, and normalises the weights; it returns notices (weights
 * normalised) and warnings (a replay share outside 5-30%, Ibrahim et al. 2024) for the caller to print.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Curriculum, Filters, MixtureRecipe, Quality, Source } from "../../config/generated/recipe.js";
import { ConfigError } from "../../errors.js";
import { PACKAGE_ROOT } from "../../paths.js";
import { validateData } from "../../schema.js";
import { sourceName } from "../sources/catalog.js";

export const RECIPE_SCHEMA_PATH = join(PACKAGE_ROOT, "core", "config", "schema", "recipe.schema.json");
export const BUNDLED_RECIPE = join(PACKAGE_ROOT, "fixtures", "recipes", "default.json");
/** Replay shares outside this range get a warning (Ibrahim et al. 2024: ~5% weak shift, ~25% strong). */
export const REPLAY_RANGE: [number, number] = [0.05, 0.3];

export interface ResolvedGroup {
  name: string;
  /** Normalised weight (all groups sum to 1). */
  weight: number;
  replay: boolean;
  sources: Source[];
  curriculum?: Required<Curriculum>;
  filters?: Filters;
}

export interface ResolvedRecipe {
  name: string;
  syntheticSeed: number;
  heldoutShare: number;
  groups: ResolvedGroup[];
  quality: Required<Omit<Quality, "filters">> & { filters: Filters };
  /** Where it was loaded from. */
  origin: string;
}

export interface LoadedRecipe {
  recipe: ResolvedRecipe;
  notices: string[];
  warnings: string[];
}

let recipeSchema: object | undefined;

export function resolveRecipePath(spec: string, cwd = process.cwd()): string {
  if (spec === "bundled" || spec === "default") return BUNDLED_RECIPE;
  const bundled = join(PACKAGE_ROOT, "fixtures", "recipes", `${spec}.json`);
  if (!spec.includes("/") && !spec.endsWith(".json") && existsSync(bundled)) return bundled;
  return resolve(cwd, spec);
}

/** Validate a recipe object; `origin` names it in errors. */
export function resolveRecipe(raw: unknown, origin: string): LoadedRecipe {
  recipeSchema ??= JSON.parse(readFileSync(RECIPE_SCHEMA_PATH, "utf8")) as object;
  const r = validateData<Required<MixtureRecipe>>(recipeSchema, raw, `recipe ${origin}`, (m) => new ConfigError(m));
  const notices: string[] = [];
  const warnings: string[] = [];
  const names = new Set<string>();
  const sources = new Map<string, string>();
  for (const g of r.groups) {
    if (names.has(g.name)) throw new ConfigError(`invalid recipe ${origin}: group '${g.name}' appears twice`);
    names.add(g.name);
    for (const s of g.sources) {
      const n = sourceName(s);
      if (sources.has(n)) throw new ConfigError(`invalid recipe ${origin}: source '${n}' is in groups '${sources.get(n)}' and '${g.name}'; a source belongs to one group`);
      sources.set(n, g.name);
    }
  }
  const total = r.groups.reduce((a, g) => a + g.weight, 0);
  if (!(total > 0)) throw new ConfigError(`invalid recipe ${origin}: group weights sum to ${total}; give at least one group a positive weight`);
  // Weights that already sum to 1 (up to rounding) are kept exactly as written.
  const normalise = Math.abs(total - 1) > 1e-9;
  if (normalise) notices.push(`recipe weights sum to ${+total.toFixed(6)}; normalised to ${r.groups.map((g) => `${g.name} ${(g.weight / total).toFixed(3)}`).join(", ")}`);
  const groups: ResolvedGroup[] = r.groups.map((g) => ({
    name: g.name,
    weight: normalise ? g.weight / total : g.weight,
    replay: g.replay ?? false,
    sources: g.sources,
    curriculum: g.curriculum ? { key: "difficulty", order: "easy-to-hard", buckets: 4, ...g.curriculum } : undefined,
    filters: g.filters,
  }));
  const replay = groups.filter((g) => g.replay).reduce((a, g) => a + g.weight, 0);
  if (replay < REPLAY_RANGE[0] || replay > REPLAY_RANGE[1]) {
    warnings.push(`general-data replay is ${(replay * 100).toFixed(1)}% of the mixture, outside the usual ${REPLAY_RANGE[0] * 100}-${REPLAY_RANGE[1] * 100}%: ${replay < REPLAY_RANGE[0] ? "expect more forgetting of general knowledge" : "the specialist data is diluted"}`);
  }
  const q = r.quality as Required<Quality>;
  return {
    recipe: { name: r.name, syntheticSeed: r.syntheticSeed, heldoutShare: r.heldoutShare, groups, quality: { ...q, filters: q.filters ?? {} }, origin },
    notices,
    warnings,
  };
}

export function loadRecipe(spec: string, cwd = process.cwd()): LoadedRecipe {
  const path = resolveRecipePath(spec, cwd);
  if (!existsSync(path)) throw new ConfigError(`recipe '${spec}' not found (looked at ${path}); give a recipe file path or 'bundled'`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (cause) {
    throw new ConfigError(`recipe '${path}' is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  return resolveRecipe(raw, `'${path}'`);
}
