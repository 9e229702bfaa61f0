/**
 * Where a run starts: the checkpoint it continues (a resume), starts from (`from`) or none (a random init);
 * the tokenizer; the architecture of this stage (a longer context with its RoPE scaling, adapters added);
 * and the LR schedule. Checked before any engine starts, so bad input fails fast.
 */
import { listCheckpoints, loadCheckpoint, stepDirName, verifyCheckpoint, type CheckpointState, type LoadedCheckpoint } from "../checkpoint/Checkpoint.js";
import type { EffectiveConfig, ModelConfig } from "../config/types.js";
import { loadRecipe } from "../data/mixture/recipe.js";
import { Tokenizer } from "../data/tokenizer/Tokenizer.js";
import { CheckpointError, ConfigError } from "../errors.js";
import { completeModelConfig } from "../model/architecture.js";
import { ropeSpec, validateModelConfig } from "../model/Transformer.js";
import { learningRate, type ResolvedSchedule } from "../optim/schedules.js";
import { resolveTokenizerPath } from "../paths.js";
import { isHfSource, resolveModelSource } from "../interop/modelSource.js";
import type { Logger } from "../plugin.js";
import type { RunDir } from "../run/RunDir.js";

export interface Start {
  tokenizer: Tokenizer;
  /** The architecture this run trains. */
  model: ModelConfig;
  schedule: ResolvedSchedule;
  /** RoPE in words, for the log. */
  ropeText: string;
  /** The checkpoint the weights come from. */
  from?: { dir: string; state: CheckpointState; withOptimizer: boolean; loaded?: LoadedCheckpoint };
  /** On resume: the checkpoint's state to continue. */
  resumeState?: CheckpointState;
  /** Why the run starts fresh AdamW moments (its starting checkpoint has none), when it does. */
  resetOptimizer?: string;
}

export function prepareStart(config: EffectiveConfig, opts: { resume: boolean; runDir: RunDir; log: Logger }): Start {
  loadRecipe(config.data.recipe); // fail fast on a bad recipe, before loading any model
  // The tfjs engine reads the tensors here (once); the PyTorch engine reads them itself, after this check.
  const load = (dir: string): { state: CheckpointState; tokenizerJson: Tokenizer["json"]; hasOptimizer: boolean; loaded?: LoadedCheckpoint } => {
    if (config.engine.type === "torch") return verifyCheckpoint(dir);
    const loaded = loadCheckpoint(dir);
    return { state: loaded.state, tokenizerJson: loaded.tokenizerJson, hasOptimizer: !!loaded.optimizer, loaded };
  };
  let start: ReturnType<typeof load> & { dir: string } | undefined;
  if (opts.resume) {
    const steps = listCheckpoints(opts.runDir.checkpoints);
    if (!steps.length) throw new CheckpointError(`--resume: no checkpoint in ${opts.runDir.checkpoints}; start the run without --resume`);
    const dir = `${opts.runDir.checkpoints}/${stepDirName(steps[steps.length - 1]!)}`;
    start = { dir, ...load(dir) };
  } else if (config.from !== null) {
    const dir = resolveModelSource(config.from);
    start = { dir, ...load(dir) };
  }

  const tokenizer = start ? new Tokenizer(start.tokenizerJson) : Tokenizer.load(resolveTokenizerPath(config.tokenizer));
  let model = start ? start.state.model : scratchModelConfig(config, tokenizer);
  if (!opts.resume) model = stageModelConfig(config, model, !!start, opts.log);
  validateModelConfig(model);

  let resetOptimizer: string | undefined;
  if (start && !start.hasOptimizer) {
    // A Hugging Face directory never carries moments: importing one is the knowing choice --reset-optimizer states.
    const imported = !opts.resume && config.from !== null && isHfSource(config.from);
    if (!config.resetOptimizer && !imported) throw new CheckpointError(`${start.dir} has no optimizer moments. Mid-training should resume with the original AdamW moments; pass --reset-optimizer to start fresh ones (expect a loss spike).`);
    resetOptimizer = imported ? `starting from ${config.from}: Hugging Face checkpoints carry no optimizer moments` : "starting checkpoint has no optimizer moments; --reset-optimizer given";
    opts.log.warn(`RESET OPTIMIZER: ${imported ? config.from : start.dir} has no AdamW moments; starting from zero moments. Expect a loss spike in the first steps.`);
  }
  const rope = ropeSpec(model);
  return {
    tokenizer,
    model,
    schedule: resolveSchedule(config, start?.state, opts.resume, start?.dir),
    ropeText: rope.type === "none" ? `RoPE base ${rope.base}` : `RoPE ${rope.type} x${rope.factor} from ${rope.originalContext} (base ${rope.base})`,
    from: start ? { dir: start.dir, state: start.state, withOptimizer: start.hasOptimizer, loaded: start.loaded } : undefined,
    resumeState: opts.resume ? start?.state : undefined,
    resetOptimizer,
  };
}

function scratchModelConfig(config: EffectiveConfig, tokenizer: Tokenizer): ModelConfig {
  const m = config.model;
  if (m.vocabSize !== undefined && m.vocabSize !== tokenizer.vocabSize) {
    throw new ConfigError(`model.vocabSize is ${m.vocabSize} but the tokenizer has ${tokenizer.vocabSize} tokens: remove model.vocabSize or use a matching tokenizer`);
  }
  return completeModelConfig({ ...m, vocabSize: tokenizer.vocabSize });
}

/**
 * The model config of a new stage from a checkpoint (or a random init): a longer context with its RoPE
 * scaling (`context`) and low-rank adapters (`adapters`). A resumed run keeps its checkpoint's.
 */
export function stageModelConfig(config: EffectiveConfig, base: ModelConfig, fromCheckpoint: boolean, log: Logger): ModelConfig {
  let cfg = base;
  const ext = config.context;
  if (ext) {
    const old = ropeSpec(base);
    const length = ext.length ?? base.contextLength;
    const type = ext.rope?.type ?? base.rope?.type ?? "none";
    const originalContext = ext.rope?.originalContext ?? base.rope?.originalContext ?? base.contextLength;
    const factor = ext.rope?.factor ?? (type === "none" ? 1 : Math.max(1, length / originalContext));
    cfg = { ...cfg, contextLength: length, rope: { type, base: ext.rope?.base ?? old.base, factor, originalContext } };
  }
  const want = config.adapters;
  if (want) {
    const have = base.adapters;
    if (have && (have.rank !== want.rank || have.alpha !== want.alpha || have.targets.join() !== want.targets.join())) {
      throw new ConfigError(`the starting checkpoint already has adapters (rank ${have.rank}, alpha ${have.alpha}, targets ${have.targets.join(", ")}) that differ from 'adapters': fold them in first with \`mtx merge\`, or drop 'adapters' to keep training them`);
    }
    cfg = { ...cfg, adapters: { rank: want.rank, alpha: want.alpha, targets: [...want.targets] } };
  }
  if (!fromCheckpoint && cfg.adapters) log.warn("adapters on a model trained from a random init: its base weights stay at their init");
  return cfg;
}

function resolveSchedule(config: EffectiveConfig, start: CheckpointState | undefined, resume: boolean, dir: string | undefined): ResolvedSchedule {
  const s = config.schedule;
  let peakLr: number;
  if (s.peakLr === "from-checkpoint") {
    if (!start) throw new ConfigError(`schedule.peakLr is "from-checkpoint" but the run starts from a random init: give a number or set 'from'`);
    const origin = resume ? (start.config as EffectiveConfig).schedule : undefined;
    peakLr = origin && typeof origin.peakLr === "number" ? origin.peakLr : start.lr;
    if (!(peakLr > 0)) throw new CheckpointError(`${dir}/state.json records no positive learning rate for peakLr "from-checkpoint"`);
  } else peakLr = s.peakLr;
  const schedule = { ...s, peakLr, totalSteps: config.steps };
  void learningRate;
  return schedule;
}
