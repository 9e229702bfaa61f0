/**
 * Loads, merges and validates the run config. The JSON Schema (schema/run.schema.json) is the source of
 * truth: ajv validates against it and fills every default, and types are generated from it. Sources, in
 * increasing priority: schema defaults, `mtx.config.json` in the working directory (or `--config FILE`),
 * then CLI flags.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { ConfigError } from "../errors.js";
import { faultLabel, parseFaults } from "../faults.js";
import { completeModelConfig } from "../model/architecture.js";
import { validateModelConfig } from "../model/Transformer.js";
import { PACKAGE_ROOT } from "../paths.js";
import { formatSchemaErrors, validateData } from "../schema.js";
import type { EffectiveConfig, PluginEntry, RunConfig } from "./types.js";

export { formatSchemaErrors };

export const RUN_SCHEMA_PATH = join(PACKAGE_ROOT, "core", "config", "schema", "run.schema.json");
export const DEFAULT_CONFIG_FILE = "mtx.config.json";

let runSchema: object | undefined;
/** The run config's JSON Schema (parsed once). */
export function runConfigSchema(): object {
  runSchema ??= JSON.parse(readFileSync(RUN_SCHEMA_PATH, "utf8")) as object;
  return runSchema;
}

/** Deep merge of plain objects; arrays and scalars in `b` replace those in `a`. */
export function deepMerge<T extends object>(a: T, b: object): T {
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    const prev = out[k];
    out[k] = isPlainObject(prev) && isPlainObject(v) ? deepMerge(prev, v) : v;
  }
  return out as T;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Validate a config object and fill defaults; throws ConfigError naming every bad field. */
export function validateConfig(raw: unknown, origin = "config"): EffectiveConfig {
  if (!isPlainObject(raw)) throw new ConfigError(`${origin}: must be a JSON object, got ${JSON.stringify(raw)}`);
  const cfg = validateData<EffectiveConfig>(runConfigSchema(), raw, origin, (m) => new ConfigError(m));
  if (cfg.from === null) validateModelConfig(completeModelConfig({ ...cfg.model, vocabSize: cfg.model.vocabSize ?? 2 }));
  for (const f of parseFaults(cfg.inject)) {
    if (f.step > cfg.steps) throw new ConfigError(`invalid ${origin}:\n  inject: '${faultLabel(f)}' fires at step ${f.step}, after the run's last step (${cfg.steps}); it could never fire: give a step within the run or more --steps`);
  }
  if (cfg.schedule.minLr > (typeof cfg.schedule.peakLr === "number" ? cfg.schedule.peakLr : Infinity)) {
    throw new ConfigError(`invalid ${origin}:\n  schedule.minLr: got ${cfg.schedule.minLr}; must not exceed schedule.peakLr (${cfg.schedule.peakLr})`);
  }
  return cfg;
}

/** A path-like plugin name (a file rather than a built-in or a package). */
export function isPluginPath(name: string): boolean {
  return name.startsWith(".") || isAbsolute(name) || /\.(c|m)?js$/.test(name);
}

/**
 * Make the relative paths of a config file absolute against the file's folder, so a config works from any
 * working directory: plugin files, the `probes` plugin's probe files, `from`, `tokenizer` and `data.recipe`.
 * `out` stays relative to the working directory (where runs go is the caller's choice, not the file's).
 */
export function resolveFilePaths(config: RunConfig, file: string): RunConfig {
  const base = dirname(resolve(file));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const out: RunConfig = { ...config };
  const looksLikePath = (p: unknown): p is string => typeof p === "string" && (p.startsWith(".") || p.includes("/") || p.endsWith(".json"));
  if (looksLikePath(out.from)) out.from = abs(out.from);
  if (looksLikePath(out.tokenizer)) out.tokenizer = abs(out.tokenizer);
  if (isPlainObject(out.data) && looksLikePath(out.data.recipe)) out.data = { ...out.data, recipe: abs(out.data.recipe) };
  if (Array.isArray(out.plugins)) {
    out.plugins = out.plugins.map((p) => {
      if (typeof p === "string") return isPluginPath(p) ? abs(p) : p;
      if (isPlainObject(p) && typeof p.name === "string" && isPluginPath(p.name)) return { ...p, name: abs(p.name) };
      if (isPlainObject(p) && p.name === "probes" && isPlainObject(p.options) && Array.isArray(p.options.probes)) {
        // The `probes` plugin's custom probes are files too, written next to the config like plugin files.
        const probes = p.options.probes.map((q) => (isPlainObject(q) && typeof q.probe === "string" && isPluginPath(q.probe) ? { ...q, probe: abs(q.probe) } : q));
        return { ...p, options: { ...p.options, probes } };
      }
      return p;
    });
  }
  return out;
}

/** Read a JSON config file; a missing file or bad JSON is a ConfigError naming the file. */
export function readConfigFile(path: string): RunConfig {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new ConfigError(`config file '${path}' does not exist`);
  try {
    return JSON.parse(readFileSync(abs, "utf8")) as RunConfig;
  } catch (cause) {
    throw new ConfigError(`config file '${path}' is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}

export interface LoadConfigOptions {
  /** `--config FILE`; when absent, mtx.config.json in `cwd` is used if it exists. */
  file?: string;
  /** Values from CLI flags (highest priority). */
  overrides?: RunConfig;
  /** A base config under the file (e.g. a resumed run's config.json). */
  base?: RunConfig;
  cwd?: string;
  /** Receives notes on how sources were combined (e.g. config plugins that --plugins did not select). */
  notes?: string[];
}

type PluginSpec = string | PluginEntry;

function pluginKey(spec: PluginSpec, cwd: string): string {
  const name = typeof spec === "string" ? spec : spec.name;
  return isPluginPath(name) ? resolve(cwd, name) : name;
}

/**
 * `--plugins a,b` against a config's `plugins`: the flag selects (and orders) the plugins that run; a
 * selected plugin the config lists keeps the config's options and onError, one it does not list is added
 * with defaults. Config plugins the flag does not name do not run (named in `notes`).
 */
export function selectPlugins(flag: PluginSpec[], configured: PluginSpec[], cwd = process.cwd(), notes?: string[]): PluginSpec[] {
  const byKey = new Map(configured.map((p) => [pluginKey(p, cwd), p]));
  const selected = flag.map((p) => byKey.get(pluginKey(p, cwd)) ?? (typeof p === "string" && isPluginPath(p) ? resolve(cwd, p) : p));
  const chosen = new Set(flag.map((p) => pluginKey(p, cwd)));
  const dropped = configured.filter((p) => !chosen.has(pluginKey(p, cwd))).map((p) => (typeof p === "string" ? p : p.name));
  if (dropped.length) notes?.push(`--plugins selects ${flag.map((p) => (typeof p === "string" ? p : p.name)).join(", ")}; the config's ${dropped.join(", ")} will not run`);
  return selected;
}

export function loadConfig(opts: LoadConfigOptions = {}): EffectiveConfig {
  const cwd = opts.cwd ?? process.cwd();
  let fromFile: RunConfig = {};
  let origin = "config";
  const file = opts.file ? resolve(cwd, opts.file) : existsSync(join(cwd, DEFAULT_CONFIG_FILE)) ? join(cwd, DEFAULT_CONFIG_FILE) : undefined;
  if (file) {
    fromFile = readConfigFile(file);
    origin = `config (${opts.file ?? DEFAULT_CONFIG_FILE} and flags)`;
    if (!isPlainObject(fromFile)) throw new ConfigError(`${opts.file ?? DEFAULT_CONFIG_FILE}: must contain a JSON object`);
    fromFile = resolveFilePaths(fromFile, file);
  }
  const { plugins: flagPlugins, ...overrides } = opts.overrides ?? {};
  const merged = deepMerge(deepMerge(opts.base ?? {}, fromFile), overrides);
  if (flagPlugins !== undefined) merged.plugins = selectPlugins(flagPlugins, merged.plugins ?? [], cwd, opts.notes);
  return validateConfig(merged, origin);
}

/** The schema default at a dotted path (e.g. "schedule.peakLr"), for help texts. */
export function schemaDefault(path: string): unknown {
  const schema = runConfigSchema() as { properties: Record<string, SchemaNode>; definitions: Record<string, SchemaNode> };
  const parts = path.split(".");
  let props: Record<string, SchemaNode> = schema.properties;
  for (let i = 0; i < parts.length; i++) {
    const node = props[parts[i]!];
    if (!node) return undefined;
    if (i === parts.length - 1) return node.default;
    const ref: string | undefined = node.$ref ?? node.allOf?.[0]?.$ref ?? node.anyOf?.find((x) => x.$ref)?.$ref;
    if (!ref) return undefined;
    props = schema.definitions[ref.split("/").pop()!]?.properties ?? {};
  }
  return undefined;
}

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  default?: unknown;
  $ref?: string;
  allOf?: { $ref?: string }[];
  anyOf?: { $ref?: string }[];
}
