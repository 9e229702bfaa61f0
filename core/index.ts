/** The public API of mtx for plugin authors and programmatic use. */
export { Trainer, type TrainerOptions } from "./Trainer.js";
export { createHooks, HOOK_DOCS } from "./hooks.js";
export type { TrainerHooks, HookName, HookDoc, RunContext, StepContext, StepMetrics, LossContext, LossTerm, EvalResult, CheckpointInfo, RunSummary, MixtureWeightsContext } from "./hooks.js";
export type { MtxPlugin, OnErrorPolicy } from "./plugin.js";
export type { TrainerApi, Logger } from "./TrainerApi.js";
export type { Verdict, VerdictAction, VerdictRecord } from "./verdicts.js";
export { loadConfig, validateConfig } from "./config/loadConfig.js";
export type { EffectiveConfig, RunConfig } from "./config/types.js";
export { MtxError, ConfigError, CheckpointError, DataError, PluginError, ProbeError, ExitCodes } from "./errors.js";
export { loadCheckpoint, saveCheckpoint } from "./checkpoint/Checkpoint.js";
