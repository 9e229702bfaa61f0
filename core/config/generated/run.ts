/* Generated from the JSON Schema by scripts/gen-types.mjs (json-schema-to-typescript). Do not edit: run `npm run gen:types`. */

/**
 * Configuration of one mtx training run. CLI flags override the file; the effective config is written to RUN/config.json.
 */
export interface RunConfig {
  /**
   * Editor hint; ignored.
   */
  $schema?: string;
  /**
   * Seed of every random stream (init, data order, sampling).
   */
  seed?: number;
  /**
   * Optimizer steps to run (the schedule spans them).
   */
  steps?: number;
  /**
   * TensorFlow.js backend of the tfjs engine; auto prefers native TensorFlow when installed, else wasm.
   */
  backend?: "auto" | "wasm" | "cpu" | "tensorflow" | "tensorflow-gpu";
  engine?: EngineConfig;
  parallel?: ParallelConfig;
  /**
   * Run directory.
   */
  out?: string;
  /**
   * Checkpoint to start from: 'bundled' (the shipped base model), a checkpoint directory, or null to train from a random init with the `model` settings.
   */
  from?: string | null;
  /**
   * Start with fresh AdamW moments when the starting checkpoint has none. Loss spikes are likely; the choice is recorded.
   */
  resetOptimizer?: boolean;
  /**
   * tokenizer.json for runs from a random init: 'bundled' or a path. A checkpoint brings its own.
   */
  tokenizer?: string;
  /**
   * Context-extension stage: train the starting checkpoint at a longer context with a RoPE scaling. null keeps the checkpoint's context and RoPE.
   */
  context?: ContextExtension | null;
  freeze?: FreezeConfig;
  /**
   * Low-rank adapters (LoRA, Hu et al. 2021) on the matching matrices; the base weights are frozen. null trains the weights themselves.
   */
  adapters?: AdapterConfig & ({} | null);
  model?: ModelConfig;
  data?: DataConfig;
  optimizer?: OptimizerConfig;
  schedule?: ScheduleConfig;
  checkpoint?: CheckpointConfig;
  eval?: EvalConfig;
  log?: LogConfig;
  /**
   * Plugins to apply, by built-in name, file path or package name, each optionally with options.
   */
  plugins?: (string | PluginEntry)[];
  /**
   * Faults to inject for testing guardrails: lr-spike@STEP:xFACTOR[:STEPS], nan@STEP, bad-batch@STEP, weight-noise@STEP:SCALE. Each fires once.
   */
  inject?: string[];
}
/**
 * Which engine holds the tensors: the embedded TensorFlow.js engine (the default, no set-up) or PyTorch on torchrun (DDP or FSDP, CPU or CUDA) for models the WebAssembly heap cannot hold. See docs/engines.md.
 */
export interface EngineConfig {
  /**
   * tfjs: TensorFlow.js in this process. torch: PyTorch, started by mtx on torchrun (or joined, see docs/engines.md).
   */
  type?: "tfjs" | "torch";
  /**
   * torch: processes on this machine (torchrun --nproc_per_node).
   */
  nproc?: number;
  /**
   * torch: cuda when available (auto), or as given. gloo on CPU, nccl on CUDA.
   */
  device?: "auto" | "cpu" | "cuda";
  /**
   * torch: DistributedDataParallel or FullyShardedDataParallel; auto is ddp with more than one process.
   */
  strategy?: "auto" | "ddp" | "fsdp";
  /**
   * torch: the Python interpreter with torch (default: mtx's virtual environment, created on first use; or $MTX_PYTHON).
   */
  python?: string;
  /**
   * torch: seconds a request may take before the engine counts as hung (a dead or stuck rank ends the run with exit 6).
   */
  timeoutSec?: number;
  /**
   * torch: mtx starts torchrun on this machine, or waits for ranks you start (many machines: torchrun ... -m mtx_torch.engine --connect SOCKET on every node, rank 0 on this one; the socket is $MTX_ENGINE_SOCKET or printed).
   */
  launch?: "torchrun" | "external";
}
/**
 * Data-parallel training on worker threads (wasm runs one thread per engine under Node).
 */
export interface ParallelConfig {
  /**
   * Threads computing gradient shards of each batch (the main thread and threads-1 replicas); the results match one thread within float rounding. Runs whose plugins add loss terms (transformLoss) stay on one thread.
   */
  threads?: number;
}
/**
 * A longer training context for a model that was trained at a shorter one.
 */
export interface ContextExtension {
  /**
   * New training context in tokens (e.g. 2x or 4x the checkpoint's).
   */
  length?: number;
  rope?: RopeConfig;
}
/**
 * Rotary position embedding and its context-extension scaling (formulas of Hugging Face modeling_rope_utils.py).
 */
export interface RopeConfig {
  /**
   * none (plain RoPE; raise `base` for ABF), linear position interpolation, NTK-aware, dynamic NTK, YaRN.
   */
  type?: "none" | "linear" | "ntk" | "dynamic-ntk" | "yarn";
  /**
   * Base theta; defaults to the model's ropeBase. Raising it is base scaling (ABF).
   */
  base?: number;
  /**
   * Extension factor s (new context / original context); defaults to that ratio.
   */
  factor?: number;
  /**
   * Context the model was pre-trained at; defaults to the starting checkpoint's context.
   */
  originalContext?: number;
}
/**
 * Selective training: frozen parameters get no gradient, no update and no optimizer state.
 */
export interface FreezeConfig {
  /**
   * Parameter-name patterns (* wildcard) to freeze, e.g. 'embed.*', 'blocks.0.*', '*norm*'.
   */
  patterns?: string[];
  /**
   * Also freeze blocks 0..k-1.
   */
  firstBlocks?: number;
  /**
   * Progressive unfreezing (ULMFiT): at each of these steps the top-most layer that is still frozen (head and final norm, then blocks from the last down, then the embedding) becomes trainable.
   */
  unfreezeAt?: number[];
}
export interface AdapterConfig {
  rank?: number;
  /**
   * Scale: the update is (alpha / rank) x A B.
   */
  alpha?: number;
  /**
   * Patterns of the matrices that get adapters (e.g. '*.attn.*', '*.mlp.*').
   *
   * @minItems 1
   */
  targets?: [string, ...string[]];
}
/**
 * Architecture, used when training from a random init (`from: null`); a checkpoint brings its own.
 */
export interface ModelConfig {
  /**
   * `llama`: SwiGLU MLP down(silu(gate x) * up x) of width `intermediate`, optional grouped-query attention (`nKvHeads`); the layout Hugging Face's LlamaForCausalLM and llama.cpp run. `gelu`: a 4x tanh-GELU MLP (mlp.w1, mlp.w2), mtx's architecture before 0.2 (checkpoints without `arch` are gelu).
   */
  arch?: "llama" | "gelu";
  /**
   * Defaults to the tokenizer's vocabulary size; if given it must equal it.
   */
  vocabSize?: number;
  /**
   * Residual width.
   */
  dModel?: number;
  /**
   * Width of the llama MLP. null: 8/3 dModel rounded up to a multiple of 32 (about the parameters of a 4x GELU MLP). The gelu MLP is always 4 dModel.
   */
  intermediate?: number | null;
  nLayers?: number;
  /**
   * Attention heads; dModel / nHeads must be even.
   */
  nHeads?: number;
  /**
   * Key/value heads for grouped-query attention; must divide nHeads. null: nHeads (plain multi-head attention).
   */
  nKvHeads?: number | null;
  /**
   * Training sequence length in tokens.
   */
  contextLength?: number;
  /**
   * RoPE base theta (used when `rope.base` is not given).
   */
  ropeBase?: number;
  rope?: RopeConfig;
  /**
   * RMSNorm on queries and keys per head (Wortsman et al. 2023).
   */
  qkNorm?: boolean;
  /**
   * Coefficient of the output-logit z-loss log^2 Z (PaLM uses 1e-4).
   */
  zLoss?: number;
  /**
   * Use the embedding matrix as the LM head.
   */
  tiedEmbeddings?: boolean;
  normEps?: number;
  /**
   * Init std; output projections use initStd / sqrt(2 nLayers).
   */
  initStd?: number;
}
export interface DataConfig {
  /**
   * Mixture recipe: 'bundled' (fixtures/recipes/default.json), the name of a bundled recipe ('general'), or a path.
   */
  recipe?: string;
  /**
   * Sequences per step.
   */
  batchSize?: number;
  /**
   * Make malformed records in user sources fatal instead of counted and skipped.
   */
  strict?: boolean;
  /**
   * Reuse the built mixture from the cache when the recipe and sources are unchanged.
   */
  cache?: boolean;
}
/**
 * AdamW with decoupled weight decay (Loshchilov & Hutter 2019); defaults from OLMo 2.
 */
export interface OptimizerConfig {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /**
   * Global gradient-norm clip; 0 disables.
   */
  gradClip?: number;
  /**
   * Parameter-name patterns (* wildcard) that get no weight decay.
   */
  noDecay?: string[];
}
export interface ScheduleConfig {
  /**
   * Re-warmup then cosine decay; warmup-stable-decay; linear to zero; constant.
   */
  type?: "warmup-cosine" | "wsd" | "linear" | "constant";
  /**
   * Peak learning rate, or 'from-checkpoint' to use the LR recorded in the starting checkpoint.
   */
  peakLr?: number | "from-checkpoint";
  /**
   * Floor of the cosine and WSD decays.
   */
  minLr?: number;
  warmupSteps?: number;
  /**
   * WSD: share of steps spent decaying (MiniCPM: ~10% suffices).
   */
  decayFraction?: number;
}
export interface CheckpointConfig {
  /**
   * Save every N steps (0: only at the end).
   */
  every?: number;
  /**
   * Checkpoints kept; older ones are deleted after a new one is complete.
   */
  keepLast?: number;
  /**
   * A checkpoint saved within this many steps after a guardrail verdict is tagged 'suspect' (rollbacks skip it); otherwise 'good'.
   */
  suspectWindow?: number;
}
export interface EvalConfig {
  /**
   * Held-out evaluation every N steps (0: only at the end).
   */
  every?: number;
  /**
   * Held-out batches per evaluation (a fixed set).
   */
  batches?: number;
}
export interface LogConfig {
  /**
   * Steps between log lines when not on a TTY.
   */
  every?: number;
  /**
   * Write RUN/tb/events.out.tfevents.* as the run trains (every metric, decisions and the config as text): `tensorboard --logdir runs/` is the live view.
   */
  tensorboard?: boolean;
}
export interface PluginEntry {
  /**
   * Built-in name, file path or package name.
   */
  name: string;
  /**
   * Validated against the plugin's own schema.
   */
  options?: {};
  /**
   * What a throw from this plugin does to the run.
   */
  onError?: "halt" | "disable" | "warn";
}
