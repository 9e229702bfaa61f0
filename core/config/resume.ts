/**
 * What a `--resume` may change. A resumed run continues the same curve, so the settings that define it
 * (the model, the data, the seed) are fixed; steps, plugins, cadences, the schedule and the optimizer's
 * hyper-parameters may change, and every change is recorded in decisions.jsonl.
 */
import { ConfigError } from "../errors.js";
import type { EffectiveConfig } from "./types.js";

/** Config fields (and their sub-fields) a resume must keep. */
export const FIXED_ON_RESUME = ["seed", "from", "tokenizer", "model", "context", "adapters", "data.recipe", "data.batchSize", "engine.type"] as const;

export interface ConfigChange {
  field: string;
  before: unknown;
  after: unknown;
}

function leaves(value: unknown, path: string, out: Map<string, unknown>): void {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const entries = Object.entries(value);
    if (!entries.length && path) out.set(path, value);
    for (const [k, v] of entries) leaves(v, path ? `${path}.${k}` : k, out);
  } else if (path) out.set(path, value);
}

/** Fields whose values differ between two configs (leaf by leaf; arrays compared whole). */
export function configChanges(before: object, after: object): ConfigChange[] {
  const a = new Map<string, unknown>();
  const b = new Map<string, unknown>();
  leaves(before, "", a);
  leaves(after, "", b);
  const fields = [...new Set([...a.keys(), ...b.keys()])].sort();
  return fields.filter((f) => JSON.stringify(a.get(f)) !== JSON.stringify(b.get(f))).map((field) => ({ field, before: a.get(field), after: b.get(field) }));
}

const isFixed = (field: string) => FIXED_ON_RESUME.some((f) => field === f || field.startsWith(`${f}.`));

/**
 * The changes a resume makes to the run's saved config; throws a ConfigError (exit 2) naming each fixed
 * field that would change, with both values.
 */
export function checkResumeChanges(saved: EffectiveConfig, next: EffectiveConfig, runDir: string): ConfigChange[] {
  const changes = configChanges(saved, next);
  const refused = changes.filter((c) => isFixed(c.field));
  if (refused.length) {
    const lines = refused.map((c) => `${c.field}: the run has ${JSON.stringify(c.before) ?? "(unset)"}, this resume gives ${JSON.stringify(c.after) ?? "(unset)"}`);
    throw new ConfigError(
      `--resume cannot change what defines the run in ${runDir}:\n  ${lines.join("\n  ")}\n` +
        `Resume with the run's own settings (drop these flags or config fields), or start a new run from its last checkpoint: --from ${runDir}/checkpoints/step-N --out <another dir>`,
    );
  }
  return changes;
}
