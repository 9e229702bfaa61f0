/**
 * `probes`: schedules probes during training without blocking the step loop. Every `every` steps it
 * snapshots the weights and runs each probe in a worker thread; results land `lag` steps later (always
 * the same step, however fast the worker), are logged to metrics.jsonl as `probe.<id>.<metric>`, and
 * checked against the probe's gates, relative to the value measured on the starting weights. A failed
 * gate becomes a halt or rollback verdict. `longctx` (plugins/longctx.ts) is this plugin with long-context
 * probes preset.
 */
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { PluginError } from "../core/errors.js";
import type { Transformer } from "../core/model/Transformer.js";
import { PROBE_WORKER } from "../core/paths.js";
import type { MtxPlugin } from "../core/plugin.js";
import { PiscinaProbePool } from "../core/pool/PiscinaProbePool.js";
import type { ProbePool } from "../core/pool/ProbePool.js";
import { snapshotBuffers, snapshotOf } from "../core/pool/snapshot.js";
import { evaluateGate, type GateResult } from "../core/suite/gates.js";
import type { Gate } from "../core/suite/suite.js";
import type { TrainerApi } from "../core/TrainerApi.js";
import type { Verdict } from "../core/verdicts.js";
import type { ProbeResult } from "../probes/types.js";
import schema from "./schema/probes.schema.json" with { type: "json" };
import type { PluginDefinition } from "./types.js";

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

export class ProbesPlugin implements MtxPlugin {
  private pool: ProbePool | undefined;
  private model!: Transformer;
  private tokenizerJson: unknown;
  private start: Record<string, Record<string, number>> = {};
  private ready: { due: number; step: number; results: Record<string, ProbeResult> } | undefined;
  private busy = false;
  private seed = 0;
  private backend = "wasm";
  private totalSteps = Infinity;

  constructor(
    readonly options: ProbesOptions,
    readonly name = "probes",
  ) {}

  /** RUN/probes.jsonl: one line per probe measurement with its details (the report's tables and needle grid). */
  private record(runDir: string, step: number, results: Record<string, ProbeResult>): void {
    for (const [id, r] of Object.entries(results)) appendFileSync(join(runDir, "probes.jsonl"), JSON.stringify({ step, plugin: this.name, probe: id, metrics: r.metrics, n: r.n, details: r.details }) + "\n");
  }

  private id(p: ScheduledProbe): string {
    return p.id ?? p.probe;
  }

  private async measure(snapshot: ReturnType<typeof snapshotOf>): Promise<Record<string, ProbeResult>> {
    const out: Record<string, ProbeResult> = {};
    // Each probe gets its own copy of the snapshot (moved into the worker).
    await Promise.all(
      this.options.probes.map(async (p) => {
        const copy = { config: snapshot.config, weights: Object.fromEntries(Object.entries(snapshot.weights).map(([k, v]) => [k, v.slice()])) };
        const r = await this.pool!.run<ProbeResult>({ probe: p.probe, input: { snapshot: copy, tokenizerJson: this.tokenizerJson, params: p.params, seed: this.seed }, backend: this.backend } as never, { transfer: snapshotBuffers(copy) });
        if (!r.ok) throw r.error;
        out[this.id(p)] = r.value;
      }),
    );
    return out;
  }

  apply(trainer: TrainerApi): void {
    const { hooks } = trainer;
    hooks.runStart.tapPromise(this.name, async (run) => {
      this.model = run.model;
      this.totalSteps = run.totalSteps;
      this.tokenizerJson = run.tokenizer.json;
      this.seed = run.config.seed;
      this.backend = run.backend.name === "cpu" ? "cpu" : "wasm";
      this.pool = new PiscinaProbePool(PROBE_WORKER, { threads: 1 });
      try {
        const results = await this.measure(snapshotOf(run.model));
        for (const [id, r] of Object.entries(results)) this.start[id] = r.metrics;
        this.record(trainer.runDir, run.startStep, results);
      } catch (e) {
        throw new PluginError(this.name, "runStart", `could not run the probes on the starting weights: ${(e as Error).message}`, { cause: e });
      }
      trainer.log.info(`${this.name}: ${this.options.probes.map((p) => this.id(p)).join(", ")} every ${this.options.every} steps in a worker`);
    });
    hooks.stepEnd.tap(this.name, (ctx) => {
      if (!this.pool || this.busy || ctx.step % this.options.every !== 0 || ctx.step + this.options.lag > this.totalSteps) return;
      this.busy = true;
      const step = ctx.step;
      const work = this.measure(snapshotOf(this.model)).then(
        (results) => {
          this.busy = false;
          this.ready = { due: step + this.options.lag, step, results };
        },
        (e: Error) => {
          this.busy = false;
          trainer.warn(this.name, `probes of step ${step} failed: ${e.message}`);
        },
      );
      trainer.defer(step + this.options.lag, work);
    });
    hooks.shouldHalt.tap(this.name, (ctx) => {
      if (!this.ready || ctx.step < this.ready.due) return undefined;
      const { results, step } = this.ready;
      this.ready = undefined;
      if (step > ctx.step) return undefined;
      const failed: { id: string; gate: GateResult }[] = [];
      const logged: Record<string, number> = {};
      for (const p of this.options.probes) {
        const r = results[this.id(p)];
        if (!r) continue;
        for (const [k, v] of Object.entries(r.metrics)) logged[`probe.${this.id(p)}.${k}`] = v;
        for (const g of p.gates) {
          const gate = evaluateGate({ z: 2, ...g } as Gate, r.metrics, this.start[this.id(p)], r.n);
          if (!gate.pass) failed.push({ id: this.id(p), gate });
        }
      }
      trainer.logMetrics(logged);
      this.record(trainer.runDir, step, results);
      if (!failed.length) return undefined;
      const v: Verdict = {
        action: this.options.action,
        plugin: this.name,
        reason: `probe regression measured at step ${step}: ${failed.map((f) => `${f.id}: ${f.gate.message}`).join("; ")}`,
        evidence: { measuredAtStep: step, failed: failed.map((f) => ({ probe: f.id, ...f.gate })), start: this.start },
      };
      return v;
    });
    hooks.shutdown.tapPromise(this.name, async () => {
      await this.pool?.close();
      this.pool = undefined;
    });
  }
}

export const probesPlugin: PluginDefinition<ProbesOptions> = {
  name: "probes",
  description: "In-training probes every N steps in a worker thread; a gate regression vs the run's start halts or rolls back",
  hooks: ["runStart", "stepEnd", "shouldHalt", "shutdown"],
  optionsSchema: schema,
  create: (options) => new ProbesPlugin(options),
};
