/**
 * Config types after validation: ajv fills every default from the schema, so the effective config has
 * every field the schema gives a default for.
 */
import type * as Gen from "./generated/run.js";

type Filled<T> = T extends (infer U)[] ? Filled<U>[] : T extends object ? { [K in keyof T]-?: Filled<NonNullable<T[K]>> | Extract<T[K], null> } : T;

export type RunConfig = Gen.RunConfig;
/** A run config with every default filled in. `$schema` stays optional. */
export type EffectiveConfig = Omit<Filled<Gen.RunConfig>, "$schema" | "plugins"> & { plugins: (string | PluginEntry)[] };
export type ModelConfig = Filled<Gen.ModelConfig>;
export type DataConfig = Filled<Gen.DataConfig>;
export type OptimizerConfig = Filled<Gen.OptimizerConfig>;
export type ScheduleConfig = Filled<Gen.ScheduleConfig>;
export type CheckpointConfig = Filled<Gen.CheckpointConfig>;
export type PluginEntry = Gen.PluginEntry;
