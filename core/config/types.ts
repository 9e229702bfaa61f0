/**
 * Config types after validation: ajv fills every default from the schema, so the effective config has
 * every field the schema gives a default for.
 */
import type * as Gen from "./generated/run.js";

type Filled<T> = T extends (infer U)[] ? Filled<U>[] : T extends object ? { [K in keyof T]-?: Filled<NonNullable<T[K]>> | Extract<T[K], null> } : T;

export type RunConfig = Gen.RunConfig;
/** A run config with every default filled in. `$schema` stays optional. */
export type EffectiveConfig = Omit<Filled<Gen.RunConfig>, "$schema" | "plugins" | "model" | "context" | "adapters"> & {
  plugins: (string | PluginEntry)[];
  model: ModelConfig;
  context: { length?: number; rope?: Gen.RopeConfig } | null;
  adapters: AdapterSpec | null;
};
/**
 * A model's architecture as checkpoints record it. `rope` and `adapters` may be absent (checkpoints of
 * plain models); `adapters` is set by the trainer from the run's `adapters`.
 */
export type ModelConfig = Omit<Filled<Gen.ModelConfig>, "rope"> & { rope?: Gen.RopeConfig; adapters?: AdapterSpec | null };
export type RopeConfig = Gen.RopeConfig;
export type AdapterSpec = Filled<Gen.AdapterConfig>;
export type FreezeConfig = Filled<Gen.FreezeConfig>;
export type DataConfig = Filled<Gen.DataConfig>;
export type OptimizerConfig = Filled<Gen.OptimizerConfig>;
export type ScheduleConfig = Filled<Gen.ScheduleConfig>;
export type CheckpointConfig = Filled<Gen.CheckpointConfig>;
export type PluginEntry = Gen.PluginEntry;
export type EngineConfig = Filled<Gen.EngineConfig>;
