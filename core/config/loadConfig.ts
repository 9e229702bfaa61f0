/**
 * Loads, merges and validates the run config. The JSON Schema (schema/run.schema.json) is the source of
 * truth: ajv validates against it and fills every default, and types are generated from it. Sources, in
 * increasing priority: schema defaults, `mtx.config.json` in the working directory (or `--config FILE`),
 * then CLI flags.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import AjvModule, { type ErrorObject, type ValidateFunction } from "ajv";
import { ConfigError } from "../errors.js";
import { validateModelConfig } from "../model/Transformer.js";
import { PACKAGE_ROOT } from "../paths.js";
import type { EffectiveConfig, RunConfig } from "./types.js";

export const RUN_SCHEMA_PATH = join(PACKAGE_ROOT, "core", "config", "schema", "run.schema.json");
export const DEFAULT_CONFIG_FILE = "mtx.config.json";

// ajv is CommonJS; under NodeNext its class is the default export's `default`.
const Ajv = AjvModule.default;
let validator: ValidateFunction | undefined;

function compiled() {
  if (!validator) {
    const schema = JSON.parse(readFileSync(RUN_SCHEMA_PATH, "utf8"));
    validator = new Ajv({ useDefaults: true, allErrors: true, strict: false }).compile(schema);
  }
  return validator;
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

function fieldOf(e: ErrorObject): string {
  const path = e.instancePath.replace(/^\//, "").replace(/\//g, ".");
  if (e.keyword === "additionalProperties") return [path, (e.params as { additionalProperty: string }).additionalProperty].filter(Boolean).join(".");
  if (e.keyword === "required") return [path, (e.params as { missingProperty: string }).missingProperty].filter(Boolean).join(".");
  return path || "(root)";
}

function valueAt(config: unknown, instancePath: string): unknown {
  let v: unknown = config;
  for (const part of instancePath.split("/").filter(Boolean)) v = (v as Record<string, unknown> | undefined)?.[part];
  return v;
}

function allowedText(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "type":
      return `must be of type ${p.type}`;
    case "enum":
      return `must be one of: ${(p.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(", ")}`;
    case "const":
      return `must be ${JSON.stringify(p.allowedValue)}`;
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
      return `must be ${p.comparison} ${p.limit}`;
    case "additionalProperties":
      return "is not a known field (see `mtx config --schema` for the fields)";
    case "required":
      return "is required";
    default:
      return e.message ?? "is invalid";
  }
}

/** Human-readable lines, one per offending field: `schedule.peakLr: got -1; must be > 0 (or "from-checkpoint")`. */
export function formatSchemaErrors(errors: ErrorObject[], config: unknown): string[] {
  const byField = new Map<string, ErrorObject[]>();
  for (const e of errors) {
    const f = fieldOf(e);
    byField.set(f, [...(byField.get(f) ?? []), e]);
  }
  const lines: string[] = [];
  for (const [field, errs] of byField) {
    // An anyOf failure lists every branch; say what each branch allows.
    const concrete = errs.filter((e) => e.keyword !== "anyOf");
    if (!concrete.length) continue;
    const given = concrete[0]!.keyword === "additionalProperties" || concrete[0]!.keyword === "required" ? undefined : valueAt(config, concrete[0]!.instancePath);
    const allowed = [...new Set(concrete.map(allowedText))].join(" or ");
    lines.push(`${field}: ${given === undefined ? "" : `got ${JSON.stringify(given)}; `}${allowed}`);
  }
  return lines;
}

/** Validate a config object and fill defaults; throws ConfigError naming every bad field. */
export function validateConfig(raw: unknown, origin = "config"): EffectiveConfig {
  if (!isPlainObject(raw)) throw new ConfigError(`${origin}: must be a JSON object, got ${JSON.stringify(raw)}`);
  const copy = structuredClone(raw);
  const validate = compiled();
  if (!validate(copy)) {
    const lines = formatSchemaErrors(validate.errors ?? [], copy);
    throw new ConfigError(`invalid ${origin}:\n  ${lines.join("\n  ")}`);
  }
  const cfg = copy as unknown as EffectiveConfig;
  if (cfg.from === null) validateModelConfig({ ...cfg.model, vocabSize: cfg.model.vocabSize ?? 2 });
  if (cfg.schedule.minLr > (typeof cfg.schedule.peakLr === "number" ? cfg.schedule.peakLr : Infinity)) {
    throw new ConfigError(`invalid ${origin}:\n  schedule.minLr: got ${cfg.schedule.minLr}; must not exceed schedule.peakLr (${cfg.schedule.peakLr})`);
  }
  return cfg;
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
}

export function loadConfig(opts: LoadConfigOptions = {}): EffectiveConfig {
  const cwd = opts.cwd ?? process.cwd();
  let fromFile: RunConfig = {};
  let origin = "config";
  if (opts.file) {
    fromFile = readConfigFile(resolve(cwd, opts.file));
    origin = `config (${opts.file} and flags)`;
  } else if (existsSync(join(cwd, DEFAULT_CONFIG_FILE))) {
    fromFile = readConfigFile(join(cwd, DEFAULT_CONFIG_FILE));
    origin = `config (${DEFAULT_CONFIG_FILE} and flags)`;
  }
  if (!isPlainObject(fromFile)) throw new ConfigError(`${opts.file ?? DEFAULT_CONFIG_FILE}: must contain a JSON object`);
  const merged = deepMerge(deepMerge(opts.base ?? {}, fromFile), opts.overrides ?? {});
  return validateConfig(merged, origin);
}

/** The schema default at a dotted path (e.g. "schedule.peakLr"), for help texts. */
export function schemaDefault(path: string): unknown {
  const schema = JSON.parse(readFileSync(RUN_SCHEMA_PATH, "utf8")) as { properties: Record<string, SchemaNode>; definitions: Record<string, SchemaNode> };
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
