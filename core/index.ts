/**
 * The public API of mtx for plugin authors and programmatic use. Types to import for a plugin:
 * `MtxPlugin`, `PluginDefinition`, `TrainerApi` and the hook contexts (`StepContext`, `RunContext`, ...);
 * verdicts are `SkipStepVerdict` (from shouldSkipStep) and `ShouldHaltVerdict` (from shouldHalt).
 */
export { Trainer, type TrainerOptions } from "./Trainer.js";
export { createHooks, HOOK_DOCS } from "./hooks.js";
export type { TrainerHooks, HookName, HookDoc, RunContext, RunDataView, PrepareContext, MixtureWeightsContext, LearningRateContext, StepContext, LossContext, EvalContext, EvalResult, CheckpointInfo, FailureContext, ShutdownContext } from "./hooks.js";
export type { StepMetrics, RunSummary, RunStatus, DecisionRecord, ProbeRecord, LateMetrics } from "./run/records.js";
export type { MtxPlugin, OnErrorPolicy, PluginDefinition, TrainerApi, Logger, Verdict, VerdictAction, VerdictRecord, SkipVerdict, ReduceLrVerdict, RollbackVerdict, HaltVerdict, SkipStepVerdict, ShouldHaltVerdict } from "./plugin.js";
export type { LossTerm, LossTermKind, PooledSpan, Rollouts, TokenRows, GenerateOptions, BackwardResult } from "./engine/types.js";
export type { LanguageModel } from "./engine/LanguageModel.js";
export type { Engine, EngineInfo, EngineKind, ProbeTarget } from "./engine/Engine.js";
export { loadConfig, validateConfig } from "./config/loadConfig.js";
export type { EffectiveConfig, RunConfig, ModelConfig } from "./config/types.js";
export { MtxError, ConfigError, CheckpointError, DataError, PluginError, ProbeError, StorageError, EngineError, ExitCodes } from "./errors.js";
export { loadCheckpoint, saveCheckpoint, verifyCheckpoint } from "./checkpoint/Checkpoint.js";
