/**
 * Probes by name, file path or package, like plugins: a built-in (`heldout`), `./my-probe.js` (relative to
 * the suite file) or an npm package whose default export (or `probe` export) is a ProbeDefinition
 * `{ name, description, run(ctx, params), metrics?(params), params? }` (docs/probes.md). Workers load custom
 * probes from the module's URL, once per thread.
 */
import { ConfigError, ProbeError } from "../core/errors.js";
import { didYouMean, ownEntry } from "../core/lookup.js";
import type { ProbeInfo } from "../core/suite/suite.js";
import { importUserModule } from "../core/userModule.js";
import { drift } from "./drift.js";
import { PROBES } from "./index.js";
import type { ProbeDefinition } from "./types.js";

const BUILTIN: Record<string, ProbeDefinition> = { ...PROBES, drift };

function isDefinition(x: unknown): x is ProbeDefinition {
  return !!x && typeof x === "object" && typeof (x as ProbeDefinition).name === "string" && typeof (x as ProbeDefinition).run === "function";
}

function definitionOf(mod: Record<string, unknown>, spec: string): ProbeDefinition {
  const d = mod.default ?? mod.probe;
  if (!isDefinition(d)) throw new ConfigError(`'${spec}' does not export a probe: default-export { name, description, run(ctx, params) } (see docs/probes.md, or scaffold one with 'mtx probes init NAME')`);
  return d;
}

/** A probe for a suite: built-in by name, else a module (path relative to `cwd`, or package). */
export async function resolveProbe(spec: string, cwd: string): Promise<ProbeInfo & { definition: ProbeDefinition }> {
  const builtin = ownEntry(PROBES, spec);
  if (builtin) return { ref: spec, definition: builtin, metrics: builtin.metrics?.bind(builtin) };
  const known = Object.keys(PROBES);
  const { mod, url } = await importUserModule(
    spec,
    cwd,
    "probe",
    (message, cause) => new ConfigError(message, { cause }),
    () => `unknown probe '${spec}'${didYouMean(spec, known)}: it is not a built-in probe (${known.join(", ")}), a file path (start it with ./) or an installed npm package`,
  );
  const definition = definitionOf(mod, spec);
  return { ref: url, definition, metrics: definition.metrics?.bind(definition) };
}

const loaded = new Map<string, Promise<ProbeDefinition>>();

/** The probe a task names (worker side): a built-in, or a module URL resolved by resolveProbe. */
export async function probeFor(ref: string): Promise<ProbeDefinition> {
  const builtin = ownEntry(BUILTIN, ref);
  if (builtin) return builtin;
  if (!ref.startsWith("file:") && !ref.startsWith("/")) throw new ProbeError(`unknown probe '${ref}': known probes are ${Object.keys(PROBES).join(", ")}`);
  let p = loaded.get(ref);
  if (!p) {
    p = import(ref).then((m: Record<string, unknown>) => definitionOf(m, ref));
    loaded.set(ref, p);
  }
  return p;
}
