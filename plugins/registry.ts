/**
 * Resolves plugin specs to plugin instances: a built-in name, a file path (`./my-plugin.js`), or an npm
 * package name. A module may default-export a PluginDefinition, a plugin class (constructed with the
 * options), a factory function returning a plugin, or a plugin object. Options are validated against
 * the plugin's JSON Schema when it has one.
 */
import type { PluginEntry } from "../core/config/types.js";
import { isPluginPath } from "../core/config/loadConfig.js";
import { PluginError } from "../core/errors.js";
import { importUserModule } from "../core/userModule.js";
import { didYouMean, ownEntry } from "../core/lookup.js";
import { nonFiniteNumbers, validateData } from "../core/schema.js";
import type { MtxPlugin, OnErrorPolicy, PluginDefinition } from "../core/plugin.js";
import { BUILTIN_PLUGINS } from "./index.js";

export interface ResolvedPlugin {
  plugin: MtxPlugin;
  onError: OnErrorPolicy;
  origin: string;
}

function isPlugin(x: unknown): x is MtxPlugin {
  return typeof x === "object" && x !== null && typeof (x as MtxPlugin).apply === "function" && typeof (x as MtxPlugin).name === "string";
}

function isDefinition(x: unknown): x is PluginDefinition {
  return typeof x === "object" && x !== null && typeof (x as PluginDefinition).create === "function" && typeof (x as PluginDefinition).name === "string";
}

/** Validate options against a plugin's schema, filling defaults; errors name the option. */
export function validateOptions(def: Pick<PluginDefinition, "name" | "optionsSchema">, options: Record<string, unknown>): Record<string, unknown> {
  if (!def.optionsSchema) {
    const bad = nonFiniteNumbers(options);
    if (bad.length) throw new PluginError(def.name, undefined, `invalid options for plugin '${def.name}':\n  ${bad.map((b) => `${b.path}: got ${b.value}; must be a finite number`).join("\n  ")}`);
    return options;
  }
  return validateData(def.optionsSchema, options, `options for plugin '${def.name}'`, (m) => new PluginError(def.name, undefined, m));
}

/** Import a plugin module by path or package name; every failure says which it was and why. */
async function importPlugin(spec: string, cwd: string): Promise<Record<string, unknown>> {
  const known = Object.keys(BUILTIN_PLUGINS);
  const { mod } = await importUserModule(
    spec,
    cwd,
    "plugin",
    (message, cause) => new PluginError(spec, undefined, message, { cause }),
    () => `unknown plugin '${spec}'${didYouMean(spec, known)}: it is not a built-in plugin (${known.join(", ")}), a file path (start it with ./) or an installed npm package. Run 'mtx plugins list' for the built-in plugins.`,
  );
  return mod;
}

async function fromModule(spec: string, options: Record<string, unknown>, cwd: string): Promise<MtxPlugin> {
  const mod = await importPlugin(spec, cwd);
  const exported = mod.default ?? mod.plugin;
  if (isDefinition(exported)) return exported.create(validateOptions(exported, options));
  if (isPlugin(exported)) return exported;
  if (typeof exported === "function") {
    // A class (constructed with `new`) or a factory function.
    const fn = exported as (new (o: unknown) => unknown) & ((o: unknown) => unknown);
    const made = /^class\s/.test(Function.prototype.toString.call(fn)) ? new fn(options) : fn(options);
    if (isPlugin(made)) return made;
  }
  throw new PluginError(spec, undefined, `'${spec}' does not export a plugin: default-export a class or object with 'name' and 'apply(trainer)', or a definition { name, create(options) } (see docs/plugins.md)`);
}

/** Turn config entries into plugin instances with their error policies. */
export async function resolvePlugins(entries: (string | PluginEntry)[], cwd = process.cwd()): Promise<ResolvedPlugin[]> {
  const out: ResolvedPlugin[] = [];
  for (const entry of entries) {
    const e: PluginEntry = typeof entry === "string" ? { name: entry } : entry;
    const options = (e.options ?? {}) as Record<string, unknown>;
    const builtin = ownEntry(BUILTIN_PLUGINS, e.name) as PluginDefinition | undefined;
    const plugin = builtin ? builtin.create(validateOptions(builtin, options)) : await fromModule(e.name, options, cwd);
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
