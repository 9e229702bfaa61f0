/** `mtx train`: mid-train a model with plugins; exit code from the run's outcome. */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { loadConfig, readConfigFile, schemaDefault, validateConfig } from "../../core/config/loadConfig.js";
import { checkResumeChanges, type ConfigChange } from "../../core/config/resume.js";
import type { EffectiveConfig, RunConfig } from "../../core/config/types.js";
import { ConfigError, describeError, ExitCodes } from "../../core/errors.js";
import type { RunSummary } from "../../core/hooks.js";
import { Trainer } from "../../core/Trainer.js";
import { parsePluginList, resolvePlugins } from "../../plugins/registry.js";
import { dim, runCommand, yellow } from "../output.js";
import { writeRunReport } from "./report.js";
import { ProgressReporter } from "../progress.js";

export interface TrainArgs {
  config?: string;
  steps?: number;
  seed?: number;
  out?: string;
  from?: string;
  resume?: boolean;
  backend?: string;
  plugins?: string;
  checkpointEvery?: number;
  evalEvery?: number;
  batchSize?: number;
  recipe?: string;
  lr?: number;
  resetOptimizer?: boolean;
  inject?: string;
  context?: number;
  ropeType?: string;
  ropeBase?: number;
  ropeFactor?: number;
  freeze?: string;
  freezeFirstBlocks?: number;
  unfreezeAt?: string;
  loraRank?: number;
  loraAlpha?: number;
  loraTargets?: string;
  threads?: number;
  engine?: string;
  nproc?: number;
  device?: string;
  strategy?: string;
  json?: boolean;
}

const list = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);

function stepList(flag: string, s: string): number[] {
  return list(s).map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--${flag}: '${x}' is not a step number; give a comma list like 100,200`);
    return n;
  });
}

/** CLI flags as a partial run config (only the flags that were given). */
export function flagsToConfig(a: TrainArgs): RunConfig {
  const c: RunConfig = {};
  if (a.steps !== undefined) c.steps = a.steps;
  if (a.seed !== undefined) c.seed = a.seed;
  if (a.out !== undefined) c.out = a.out;
  if (a.from !== undefined) c.from = a.from === "none" ? null : a.from;
  if (a.backend !== undefined) c.backend = a.backend as RunConfig["backend"];
  if (a.plugins !== undefined) c.plugins = parsePluginList(a.plugins);
  if (a.checkpointEvery !== undefined) c.checkpoint = { every: a.checkpointEvery };
  if (a.evalEvery !== undefined) c.eval = { every: a.evalEvery };
  if (a.batchSize !== undefined) c.data = { batchSize: a.batchSize };
  if (a.recipe !== undefined) c.data = { ...c.data, recipe: a.recipe };
  if (a.lr !== undefined) c.schedule = { peakLr: a.lr };
  if (a.resetOptimizer) c.resetOptimizer = true;
  if (a.inject !== undefined) c.inject = list(a.inject);
  if (a.threads !== undefined) c.parallel = { threads: a.threads };
  if (a.engine !== undefined || a.nproc !== undefined || a.device !== undefined || a.strategy !== undefined) {
    c.engine = {};
    if (a.engine !== undefined) c.engine.type = a.engine as "tfjs";
    if (a.nproc !== undefined) c.engine.nproc = a.nproc;
    if (a.device !== undefined) c.engine.device = a.device as "auto";
    if (a.strategy !== undefined) c.engine.strategy = a.strategy as "auto";
  }
  if (a.context !== undefined || a.ropeType !== undefined || a.ropeBase !== undefined || a.ropeFactor !== undefined) {
    const rope: NonNullable<RunConfig["context"]>["rope"] = {};
    if (a.ropeType !== undefined) rope.type = a.ropeType as "none";
    if (a.ropeBase !== undefined) rope.base = a.ropeBase;
    if (a.ropeFactor !== undefined) rope.factor = a.ropeFactor;
    c.context = { ...(a.context !== undefined ? { length: a.context } : {}), ...(Object.keys(rope).length ? { rope } : {}) };
  }
  if (a.freeze !== undefined || a.freezeFirstBlocks !== undefined || a.unfreezeAt !== undefined) {
    c.freeze = {};
    if (a.freeze !== undefined) c.freeze.patterns = list(a.freeze);
    if (a.freezeFirstBlocks !== undefined) c.freeze.firstBlocks = a.freezeFirstBlocks;
    if (a.unfreezeAt !== undefined) c.freeze.unfreezeAt = stepList("unfreeze-at", a.unfreezeAt);
  }
  if (a.loraRank !== undefined || a.loraAlpha !== undefined || a.loraTargets !== undefined) {
    c.adapters = {};
    if (a.loraRank !== undefined) c.adapters.rank = a.loraRank;
    if (a.loraAlpha !== undefined) c.adapters.alpha = a.loraAlpha;
    if (a.loraTargets !== undefined) c.adapters.targets = list(a.loraTargets) as [string, ...string[]];
  }
  return c;
}

export interface Effective {
  config: EffectiveConfig;
  /** On --resume: what this resume changes in the run's saved config (the fixed fields are refused). */
  changes: ConfigChange[];
  notes: string[];
}

/**
 * The effective config of a run: defaults < config file < flags; on --resume, the run's own config.json
 * under the file and flags, refusing changes to the model, the data or the seed.
 */
export function effectiveConfig(a: TrainArgs): Effective {
  const overrides = flagsToConfig(a);
  const notes: string[] = [];
  if (!a.resume) return { config: loadConfig({ file: a.config, overrides, notes }), changes: [], notes };
  const out = resolve(a.out ?? loadConfig({ file: a.config, overrides }).out);
  const savedPath = join(out, "config.json");
  if (!existsSync(savedPath)) throw new ConfigError(`--resume: ${savedPath} not found; is '${out}' a run directory? Give it with --out`);
  const saved = validateConfig(readConfigFile(savedPath), savedPath);
  const config = loadConfig({ base: saved as RunConfig, file: a.config, overrides: { ...overrides, out }, notes });
  return { config, changes: checkResumeChanges(saved, config, out), notes };
}

export async function run(a: TrainArgs): Promise<RunSummary> {
  const { config, changes, notes } = effectiveConfig(a);
  const resolved = await resolvePlugins(config.plugins);
  const write = (line: string) => process.stderr.write(line + "\n");
  const log = { info: (m: string) => write(dim(m)), warn: (m: string) => write(yellow(m)) };
  for (const n of notes) log.warn(n);
  const progress = new ProgressReporter({ tty: !!process.stderr.isTTY && !a.json, every: config.log.every, write });
  const policies = Object.fromEntries(resolved.map((r) => [r.plugin.name, r.onError]));
  const trainer = new Trainer(config, [...resolved.map((r) => r.plugin), progress], { resume: a.resume, policies, log, configChanges: changes });
  if (resolved.length) log.info(`plugins: ${resolved.map((r) => r.plugin.name).join(", ")}`);
  const onSignal = (signal: "SIGINT" | "SIGTERM") => () => {
    write(yellow(`\n${signal}: stopping after this step and saving a checkpoint (send again to abort without saving)`));
    trainer.requestStop(signal);
    process.once(signal, () => process.kill(process.pid, "SIGKILL"));
  };
  const sigint = onSignal("SIGINT");
  const sigterm = onSignal("SIGTERM");
  process.once("SIGINT", sigint);
  process.once("SIGTERM", sigterm);
  try {
    return await trainer.train();
  } finally {
    process.removeListener("SIGINT", sigint);
    process.removeListener("SIGTERM", sigterm);
    // Only a run this process wrote gets a report: not a refused --out, not another writer's directory.
    if (trainer.wroteRunDir) await writeReportQuietly(config.out, log);
  }
}

/** The run's report.html, written at the end of every run (completed, halted, stopped or failed); its path is in the summary. */
async function writeReportQuietly(out: string, log: { warn(m: string): void }): Promise<void> {
  try {
    await writeRunReport(out);
  } catch (error) {
    log.warn(`could not write the run report: ${describeError(error)}`);
  }
}

function report(s: RunSummary, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify({ ...s, report: join(s.runDir, "report.html") }) + "\n");
    return;
  }
  const lines = [
    `run ${s.status}: steps ${s.startStep + 1}..${s.endStep}, ${s.tokens.toLocaleString("en-US")} tokens, ${s.tokensPerSec.toFixed(0)} tok/s on ${s.backend}`,
    `loss ${s.firstLoss?.toFixed(4) ?? "-"} -> ${s.lastLoss?.toFixed(4) ?? "-"}` + (s.heldout ? `; held-out loss ${s.heldout.loss.toFixed(4)}, ${s.heldout.bpb.toFixed(4)} bits/byte` : ""),
  ];
  if (s.halt) lines.push(`halted by ${s.halt.plugin}: ${s.halt.reason}`);
  if (s.verdicts.length) lines.push(`${s.verdicts.length} guardrail decision(s): see ${join(s.runDir, "decisions.jsonl")}`);
  lines.push(`run directory: ${s.runDir}` + (s.lastCheckpoint ? `; last checkpoint ${s.lastCheckpoint}` : ""));
  lines.push(`report: ${join(s.runDir, "report.html")}`);
  process.stdout.write(lines.join("\n") + "\n");
}

export const command: CommandModule<object, TrainArgs> = {
  command: "train",
  describe: "Mid-train a model (by default the bundled base) with guardrail plugins",
  builder: (y: Argv) =>
    y
      .option("config", { type: "string", describe: "Run config JSON (default: ./mtx.config.json if present)" })
      .option("plugins", { type: "string", describe: "Comma list of plugins: built-in names, ./file.js paths or package names", defaultDescription: "none" })
      .option("steps", { type: "number", describe: "Optimizer steps", defaultDescription: String(schemaDefault("steps")) })
      .option("seed", { type: "number", describe: "Seed of every random stream", defaultDescription: String(schemaDefault("seed")) })
      .option("out", { type: "string", describe: "Run directory", defaultDescription: String(schemaDefault("out")) })
      .option("from", { type: "string", describe: "Checkpoint to start from ('bundled', a directory, or 'none' for a random init)", defaultDescription: String(schemaDefault("from")) })
      .option("resume", { type: "boolean", describe: "Continue the run in --out from its latest checkpoint", default: false })
      .option("engine", { type: "string", choices: ["tfjs", "torch"], describe: "Engine holding the tensors: TensorFlow.js in this process, or PyTorch on torchrun (docs/engines.md)", defaultDescription: String(schemaDefault("engine.type")) })
      .option("nproc", { type: "number", describe: "torch: processes on this machine (torchrun --nproc_per_node)", defaultDescription: String(schemaDefault("engine.nproc")) })
      .option("device", { type: "string", choices: ["auto", "cpu", "cuda"], describe: "torch: device", defaultDescription: String(schemaDefault("engine.device")) })
      .option("strategy", { type: "string", choices: ["auto", "ddp", "fsdp"], describe: "torch: DistributedDataParallel or FullyShardedDataParallel (auto: ddp with more than one process)", defaultDescription: String(schemaDefault("engine.strategy")) })
      .option("backend", { type: "string", choices: ["auto", "wasm", "cpu", "tensorflow", "tensorflow-gpu"], describe: "tfjs: TensorFlow.js backend", defaultDescription: String(schemaDefault("backend")) })
      .option("threads", { type: "number", describe: "Data-parallel training threads (gradient shards on worker threads)", defaultDescription: String(schemaDefault("parallel.threads")) })
      .option("checkpoint-every", { type: "number", describe: "Save a checkpoint every N steps (0: only at the end)", defaultDescription: String(schemaDefault("checkpoint.every")) })
      .option("eval-every", { type: "number", describe: "Held-out evaluation every N steps (0: only at the end)", defaultDescription: String(schemaDefault("eval.every")) })
      .option("batch-size", { type: "number", describe: "Sequences per step", defaultDescription: String(schemaDefault("data.batchSize")) })
      .option("recipe", { type: "string", describe: "Mixture recipe: 'bundled', a bundled recipe name (general, long-context, no-replay, copying, induction) or a path", defaultDescription: String(schemaDefault("data.recipe")) })
      .option("lr", { type: "number", describe: "Peak learning rate", defaultDescription: String(schemaDefault("schedule.peakLr")) })
      .option("reset-optimizer", { type: "boolean", describe: "Allow starting from a checkpoint without AdamW moments (fresh moments; recorded)", default: false })
      .option("inject", { type: "string", describe: "Faults to inject, e.g. lr-spike@120:x20,nan@200,bad-batch@150,weight-noise@300:0.05", defaultDescription: "none" })
      .option("context", { type: "number", describe: "Context-extension stage: train at this context (e.g. 2x the checkpoint's)", group: "Context extension:" })
      .option("rope-type", { type: "string", choices: ["none", "linear", "ntk", "dynamic-ntk", "yarn"], describe: "RoPE scaling for the longer context (none: plain RoPE, raise --rope-base for ABF)", group: "Context extension:" })
      .option("rope-base", { type: "number", describe: "RoPE base theta (e.g. 100000 for base scaling)", group: "Context extension:" })
      .option("rope-factor", { type: "number", describe: "RoPE scaling factor (default: new context / original context)", group: "Context extension:" })
      .option("freeze", { type: "string", describe: "Comma list of parameter-name patterns to freeze, e.g. 'embed.*,*norm*'", group: "Selective training:" })
      .option("freeze-first-blocks", { type: "number", describe: "Freeze blocks 0..k-1", group: "Selective training:" })
      .option("unfreeze-at", { type: "string", describe: "Progressive unfreezing: steps at which the top-most frozen layer starts training, e.g. 50,100", group: "Selective training:" })
      .option("lora-rank", { type: "number", describe: "Train low-rank adapters of this rank instead of the weights", group: "Adapters:" })
      .option("lora-alpha", { type: "number", describe: "Adapter scale numerator (update = alpha/rank A B)", defaultDescription: String(schemaDefault("adapters.alpha")), group: "Adapters:" })
      .option("lora-targets", { type: "string", describe: "Comma list of matrix patterns that get adapters", defaultDescription: (schemaDefault("adapters.targets") as string[]).join(","), group: "Adapters:" })
      .option("json", { type: "boolean", describe: "Print the run summary as JSON, no progress bar", default: false }) as Argv<TrainArgs>,
  handler: (argv: ArgumentsCamelCase<TrainArgs>) =>
    runCommand(async () => {
      const summary = await run(argv);
      report(summary, !!argv.json);
      return summary.exitCode;
    }),
};

export { ExitCodes };
