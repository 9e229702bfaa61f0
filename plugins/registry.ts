/**
 * Resolves plugin specs to plugin instances: a built-in name, a file path (`./my-plugin.js`), or an npm
 * package name. A module may default-export a PluginDefinition, a plugin class (constructed with the
 * options), a factory function returning a plugin, or a plugin object. Options are validated against
 * the plugin's JSON Schema when it has one.
 */
import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import AjvModule from "ajv";
import type { PluginEntry } from "../core/config/types.js";
import { PluginError } from "../core/errors.js";
import type { MtxPlugin, OnErrorPolicy } from "../core/plugin.js";
import { BUILTIN_PLUGINS } from "./index.js";
import type { PluginDefinition } from "./types.js";

const Ajv = AjvModule.default;

export interface ResolvedPlugin {
  plugin: MtxPlugin;
  onError: OnErrorPolicy;
  origin: string;
}

function looksLikePath(spec: string): boolean {
  return spec.startsWith(".") || isAbsolute(spec) || /\.(c|m)?js$/.test(spec);
}

function isPlugin(x: unknown): x is MtxPlugin {
  return typeof x === "object" && x !== null && typeof (x as MtxPlugin).apply === "function" && typeof (x as MtxPlugin).name === "string";
}

function isDefinition(x: unknown): x is PluginDefinition {
  return typeof x === "object" && x !== null && typeof (x as PluginDefinition).create === "function" && typeof (x as PluginDefinition).name === "string";
}

/** Validate options against a plugin's schema, filling defaults; errors name the option. */
export function validateOptions(def: Pick<PluginDefinition, "name" | "optionsSchema">, options: Record<string, unknown>): Record<string, unknown> {
  if (!def.optionsSchema) return options;
  const copy = structuredClone(options);
  const validate = new Ajv({ useDefaults: true, allErrors: true, strict: false }).compile(def.optionsSchema);
  if (!validate(copy)) {
    const lines = (validate.errors ?? []).map((e) => {
      const p = e.params as Record<string, unknown>;
      const field = e.keyword === "additionalProperties" ? String(p.additionalProperty) : e.instancePath.replace(/^\//, "").replace(/\//g, ".") || "(options)";
      const given = e.keyword === "additionalProperties" ? "" : `got ${JSON.stringify(e.instancePath.split("/").filter(Boolean).reduce<unknown>((v, k) => (v as Record<string, unknown>)?.[k], copy))}; `;
      const allowed = e.keyword === "additionalProperties" ? "is not an option of this plugin" : e.keyword === "enum" ? `must be one of ${(p.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(", ")}` : e.message;
      return `${field}: ${given}${allowed}`;
    });
    throw new PluginError(def.name, undefined, `invalid options for plugin '${def.name}':\n  ${lines.join("\n  ")}`);
  }
  return copy;
}

async function fromModule(spec: string, options: Record<string, unknown>): Promise<MtxPlugin> {
  let mod: Record<string, unknown>;
  const isPath = looksLikePath(spec);
  try {
    if (isPath) {
      const abs = resolve(spec);
      if (!existsSync(abs)) throw new PluginError(spec, undefined, `plugin file '${spec}' does not exist`);
      mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
    } else {
      mod = (await import(spec)) as Record<string, unknown>;
    }
  } catch (cause) {
    if (cause instanceof PluginError) throw cause;
    const known = Object.keys(BUILTIN_PLUGINS);
    const hint = isPath
      ? `it failed to load: ${(cause as Error).message}`
      : `it is not a built-in plugin (${known.length ? known.join(", ") : "none"}), and no npm package of that name could be imported`;
    throw new PluginError(spec, undefined, `unknown plugin '${spec}': ${hint}. Run 'mtx plugins list' for the built-in plugins.`, { cause });
  }
  const exported = mod.default ?? mod.plugin;
  if (isDefinition(exported)) return exported.create(validateOptions(exported, options));
  if (isPlugin(exported)) return exported;
  if (typeof exported === "function") {
    // A class (constructed with `new`) or a factory function.
    const fn = exported as (new (o: unknown) => unknown) & ((o: unknown) => unknown);
    const made = /^class\s/.test(Function.prototype.toString.call(fn)) ? new fn(options) : fn(options);
    if (isPlugin(made)) return made;
  }
  throw new PluginError(spec, undefined, `'${spec}' does not export a plugin: default-export a class or object with 'name' and 'apply(trainer)' (see docs/plugins.md)`);
}

/** Turn config entries into plugin instances with their error policies. */
export async function resolvePlugins(entries: (string | PluginEntry)[]): Promise<ResolvedPlugin[]> {
  const out: ResolvedPlugin[] = [];
  for (const entry of entries) {
    const e: PluginEntry = typeof entry === "string" ? { name: entry } : entry;
    const options = (e.options ?? {}) as Record<string, unknown>;
    const builtin = BUILTIN_PLUGINS[e.name] as PluginDefinition | undefined;
    const plugin = builtin ? builtin.create(validateOptions(builtin, options)) : await fromModule(e.name, options);
    out.push({ plugin, onError: e.onError ?? "halt", origin: builtin ? "built-in" : e.name });
  }
  return out;
}

/** Split `--plugins a,b,./c.js` into entries. */
export function parsePluginList(list: string): string[] {
  return list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}
