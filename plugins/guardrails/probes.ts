/**
 * `probes`: schedules probes during training without blocking the step loop. Every `every` steps it
 * snapshots the weights and runs each probe off the loop (a worker thread for the tfjs engine, the eval
 * process for the PyTorch engine); results land `lag` steps later (always the same step, however fast the
 * worker), are logged to metrics.jsonl as `probe.<id>.<metric>` at the step they measured and to
 * probes.jsonl with their details, and are checked against the probe's gates, relative to the value
 * measured on the starting weights. A failed gate becomes a halt or rollback verdict. `longctx`
 * (longctx.ts) is this plugin with long-context probes preset.
 */
import type { ProbeTarget } from "../../core/engine/Engine.js";
import { ConfigError, PluginError } from "../../core/errors.js";
import type { RunContext } from "../../core/hooks.js";
import type { MtxPlugin, PluginDefinition, ShouldHaltVerdict, TrainerApi } from "../../core/plugin.js";
import type { ProbePool } from "../../core/pool/ProbePool.js";
import { appendLine } from "../../core/io/files.js";
import { evaluateGate, type GateResult } from "../../core/suite/gates.js";
import type { Gate } from "../../core/suite/suite.js";
import type { ProbeRecord } from "../../core/run/records.js";
import { resolveProbe } from "../../probes/resolve.js";
import type { ProbeResult } from "../../probes/types.js";
import { didYouMean } from "../../core/lookup.js";
import { metricMatches } from "../../core/suite/suite.js";
import { join } from "node:path";
import schema from "./probes.schema.json" with { type: "json" };

export interface ScheduledProbe {
  id?: string;
  probe: string;
  params: Record<string, unknown>;
  gates: Partial<Gate>[];
}

export interface ProbesOptions {
  every: number;
  lag: number;
  action: "halt" | "rollback";
  probes: ScheduledProbe[];
}

interface ProbesState {
  start: Record<string, Record<string, number>>;
  pending?: number;
}

export class ProbesPlugin implements MtxPlugin {
  private pool: ProbePool | undefined;
  private snapshot!: RunContext["snapshot"];
  private start: Record<string, Record<string, number>> = {};
  private ready: { due: number; step: number; results: Record<string, ProbeResult> } | undefined;
  private inflight: number | undefined;
  private seed = 0;
  private totalSteps = Infinity;
  private resumePending: number | undefined;
  private resumed = false;
  /** What the probe pool loads for each scheduled probe: a built-in's name or a custom probe's module URL. */
  private refs = new Map<ScheduledProbe, string>();
  private names = new Map<ScheduledProbe, string>();

  constructor(
    readonly options: ProbesOptions,
    readonly name = "probes",
  ) {}

  /** RUN/probes.jsonl: one line per probe measurement with its details (the report's tables and needle grid). */
  private record(runDir: string, step: number, arrivedAtStep: number, results: Record<string, ProbeResult>): void {
    for (const [id, r] of Object.entries(results)) {
      const rec: ProbeRecord = { step, arrivedAtStep, plugin: this.name, probe: id, metrics: r.metrics, n: r.n, details: r.details };
      appendLine(join(runDir, "probes.jsonl"), JSON.stringify(rec));
    }
  }

  /** The name metrics carry (`probe.<id>.<metric>`): the given id, else the probe's own name. */
  private id(p: ScheduledProbe): string {
    return p.id ?? this.names.get(p) ?? p.probe;
  }

  private async measure(target: ProbeTarget): Promise<Record<string, ProbeResult>> {
    const out: Record<string, ProbeResult> = {};
    for (const p of this.options.probes) {
      // Each task moves its own copy of in-memory weights into the worker.
      const own: ProbeTarget = target.kind === "weights" ? { ...target, weights: Object.fromEntries(Object.entries(target.weights).map(([k, v]) => [k, v.slice()])) } : target;
      const r = await this.pool!.run<ProbeResult>({ probe: this.refs.get(p) ?? p.probe, target: own, params: p.params, seed: this.seed });
      if (!r.ok) throw r.error;
      out[this.id(p)] = r.value;
    }
    return out;
  }

  apply(trainer: TrainerApi): void {
    const { hooks } = trainer;
    hooks.runStart.tapPromise(this.name, async (run) => {
      await this.resolveProbes();
      this.totalSteps = run.totalSteps;
      this.seed = run.config.seed;
      this.snapshot = run.snapshot;
      this.pool = run.openProbePool();
      // The reference values are those of the run's start: measured once, kept across resumes.
      if (!this.resumed || !Object.keys(this.start).length) {
        try {
          const results = await this.measure(await run.snapshot());
          for (const [id, r] of Object.entries(results)) this.start[id] = r.metrics;
          this.record(trainer.runDir, run.startStep, run.startStep, results);
        } catch (e) {
          throw new PluginError(this.name, "runStart", `could not run the probes on the starting weights: ${(e as Error).message}`, { cause: e });
        }
      }
      if (this.resumePending === run.startStep) this.schedule(run.startStep, trainer);
      this.resumePending = undefined;
      trainer.log.info(`${this.name}: ${this.options.probes.map((p) => this.id(p)).join(", ")} every ${this.options.every} steps off the step loop`);
    });
    hooks.stepEnd.tap(this.name, (ctx) => {
      if (!this.pool || this.inflight !== undefined || ctx.step % this.options.every !== 0 || ctx.step + this.options.lag > this.totalSteps) return;
      this.schedule(ctx.step, trainer);
    });
    hooks.shouldHalt.tap(this.name, (ctx) => this.act(ctx.step, trainer));
    hooks.shutdown.tapPromise(this.name, async () => {
      await this.pool?.close();
      this.pool = undefined;
    });
  }

  /**
   * Built-in probes by name, custom ones by file (a config file's relative paths are made absolute against
   * its folder) or package, as in suites; a gate on a metric the probe does not produce is refused before
   * anything is measured.
   */
  private async resolveProbes(): Promise<void> {
    for (const p of this.options.probes) {
      const info = await resolveProbe(p.probe, process.cwd());
      this.refs.set(p, info.ref);
      this.names.set(p, info.definition.name);
      const produced = info.metrics?.(p.params);
      if (!produced) continue;
      for (const g of p.gates) {
        if (typeof g.metric !== "string" || !produced.some((m) => metricMatches(m, g.metric!))) {
          throw new ConfigError(`a gate of probe '${this.id(p)}' reads metric '${String(g.metric)}', which the probe does not produce${didYouMean(String(g.metric), produced)}; it produces ${produced.join(", ")}`);
        }
      }
    }
  }

  private schedule(step: number, trainer: TrainerApi): void {
    this.inflight = step;
    const work = (async () => {
      try {
        const results = await this.measure(await this.snapshot());
        this.ready = { due: step + this.options.lag, step, results };
      } catch (e) {
        trainer.warn(this.name, `probes of step ${step} failed: ${(e as Error).message}`);
      } finally {
        this.inflight = undefined;
      }
    })();
    trainer.defer(step + this.options.lag, work);
  }

  private act(now: number, trainer: TrainerApi): ShouldHaltVerdict | undefined {
    if (!this.ready || now < this.ready.due) return undefined;
    const { results, step } = this.ready;
    this.ready = undefined;
    if (step > now) return undefined;
    const failed: { id: string; gate: GateResult }[] = [];
    const logged: Record<string, number> = {};
    for (const p of this.options.probes) {
      const r = results[this.id(p)];
      if (!r) continue;
      for (const [k, v] of Object.entries(r.metrics)) logged[`probe.${this.id(p)}.${k}`] = v;
      for (const g of p.gates) {
        const start = this.start[this.id(p)];
        const gate = evaluateGate({ z: 2, ...g } as Gate, r, start ? { metrics: start, n: r.n } : undefined);
        if (!gate.pass) failed.push({ id: this.id(p), gate });
      }
    }
    trainer.logMetrics(logged, step);
    this.record(trainer.runDir, step, now, results);
    if (!failed.length) return undefined;
    return {
      action: this.options.action,
      plugin: this.name,
      reason: `probe regression measured at step ${step}: ${failed.map((f) => `${f.id}: ${f.gate.message}`).join("; ")}`,
      evidence: { measuredAtStep: step, arrivedAtStep: now, failed: failed.map((f) => ({ probe: f.id, ...f.gate })), start: this.start },
    };
  }

  state(): ProbesState {
    return { start: this.start, pending: this.inflight ?? this.ready?.step };
  }

  restore(s: unknown, reason: "resume" | "rollback"): void {
    const state = s as ProbesState;
    if (state.start) this.start = state.start;
    if (reason === "resume") {
      this.resumed = true;
      this.resumePending = state.pending;
    }
  }
}

export const probesPlugin: PluginDefinition<ProbesOptions> = {
  name: "probes",
  kind: "guardrail",
  description: "In-training probes every N steps off the step loop; a gate regression vs the run's start halts or rolls back",
  hooks: ["runStart", "stepEnd", "shouldHalt", "shutdown"],
  optionsSchema: schema,
  create: (options) => new ProbesPlugin(options),
};
