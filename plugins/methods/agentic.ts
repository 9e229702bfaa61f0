/**
 * `agentic`: agentic continual pre-training (AgentFounder 2025). Tool-use trajectories from the data
 * pipeline's simulated tool environment (goal -> thought -> JSON tool call -> observation -> ... -> final
 * answer) replace a share of every batch's sequences (specialist rows first, so general replay keeps its
 * share), on a schedule (start step, linear ramp).
 *
 * Outcome conditioning: each trajectory starts with its outcome ("Outcome: success" / "Outcome:
 * failure"), so the model learns both kinds apart and is prompted with success at test time (the
 * tool-use probe's `condition` parameter). The outcome-conditioned auxiliary loss adds `outcomeWeight` x
 * the mean cross-entropy over tokens of successful trajectories, logged on its own as `outcome`.
 *
 * The injected sequences come from their own packed stream whose cursor is kept in checkpoints, and the
 * number injected per step is a deterministic running deficit, so resumes and rollbacks repeat exactly.
 */
import type { Batch } from "../../core/data/batch.js";
import { PackedStream } from "../../core/data/PackedStream.js";
import { isHeldOut } from "../../core/data/sources/general.js";
import { trajectories } from "../../core/data/synthetic/tools/trajectories.js";
import type { LossContext } from "../../core/hooks.js";
import type { MtxPlugin, PluginDefinition, TrainerApi } from "../../core/plugin.js";
import { HELDOUT_SHARE, PROBE_SEED } from "../../probes/items.js";
import schema from "./agentic.schema.json" with { type: "json" };

const PLUGIN_NAME = "agentic";
export const AGENTIC_SOURCE = "agent-trajectories";

export interface AgenticOptions {
  share: number;
  start: number;
  rampSteps: number;
  trajectories: number;
  failureShare: number;
  conditioning: boolean;
  outcomeWeight: number;
}

interface AgenticState {
  step: number;
  owed: number;
  cursor: Record<string, unknown>;
}

/** The outcome prefix a conditioned trajectory starts with (and a conditioned prompt). */
export function outcomePrefix(outcome: "success" | "failure"): string {
  return `Outcome: ${outcome}\n`;
}

/** The scheduled share at `step`: 0 before `start`, then a linear ramp to `share`. */
export function scheduledShare(o: Pick<AgenticOptions, "share" | "start" | "rampSteps">, step: number): number {
  if (step < o.start) return 0;
  if (o.rampSteps <= 0) return o.share;
  return o.share * Math.min(1, (step - o.start + 1) / o.rampSteps);
}

export class AgenticPlugin implements MtxPlugin {
  readonly name = PLUGIN_NAME;
  private stream!: PackedStream;
  private success = new Set<string>();
  /** Last completed step. */
  private step = 0;
  private owed = 0;
  /** Rows of the current batch that are injected trajectories. */
  private injected: number[] = [];
  private pendingCursor: Record<string, unknown> | undefined;
  private replayGroups = new Set<string>();

  constructor(readonly options: AgenticOptions) {}

  apply(trainer: TrainerApi): void {
    const { hooks } = trainer;
    const o = this.options;
    hooks.runStart.tap(PLUGIN_NAME, (run) => {
      // The probes' tool environment (same records), without the probes' held-out tasks.
      const pool = trajectories(PROBE_SEED, o.trajectories, o.failureShare).filter((t) => !isHeldOut(t.task.id, HELDOUT_SHARE));
      const documents = pool.map((t) => ({ id: t.task.id, source: AGENTIC_SOURCE, text: (o.conditioning ? outcomePrefix(t.outcome) : "") + t.text, meta: { outcome: t.outcome } }));
      for (const t of pool) if (t.outcome === "success") this.success.add(t.task.id);
      this.replayGroups = new Set(run.data.groups.filter((g) => g.replay).map((g) => g.name));
      this.stream = new PackedStream({ documents, tokenizer: run.tokenizer, seqLen: run.modelConfig.contextLength, batchSize: 1, seed: run.config.seed, label: PLUGIN_NAME, group: PLUGIN_NAME });
      if (this.pendingCursor) this.stream.restore(this.pendingCursor);
      if (!run.resumed) this.step = run.startStep;
      const successShare = this.success.size / pool.length;
      trainer.log.info(`[agentic] ${pool.length} trajectories (${(successShare * 100).toFixed(0)}% successful), share ${o.share} from step ${o.start}` + (o.rampSteps ? ` over a ${o.rampSteps}-step ramp` : ""));
    });
    hooks.transformBatch.tap(PLUGIN_NAME, (batch) => {
      const out = this.inject(batch);
      if (this.injected.length) trainer.logMetrics({ "agentic.sequences": this.injected.length });
      return out;
    });
    hooks.transformLoss.tap(PLUGIN_NAME, (loss) => this.outcomeLoss(loss));
    hooks.stepEnd.tap(PLUGIN_NAME, (ctx) => {
      this.step = ctx.step;
    });
  }

  private inject(batch: Batch): Batch {
    const step = this.step + 1;
    this.owed += scheduledShare(this.options, step) * batch.size;
    const n = Math.min(batch.size, Math.floor(this.owed + 1e-9));
    this.owed -= n;
    this.injected = [];
    if (n === 0) return batch;
    const T = batch.seqLen;
    const inputs = batch.inputs.slice();
    const targets = batch.targets.slice();
    const samples = [...batch.samples];
    const window = new Int32Array(T + 1);
    // Replace rows of the specialist groups first (last rows first) so general replay keeps its share.
    const rows = [...batch.samples.keys()].reverse();
    const order = [...rows.filter((r) => !this.replayGroups.has(batch.samples[r]!.group ?? "")), ...rows.filter((r) => this.replayGroups.has(batch.samples[r]!.group ?? ""))];
    for (const row of order.slice(0, n)) {
      const info = this.stream.nextSequence(window);
      inputs.set(window.subarray(0, T), row * T);
      targets.set(window.subarray(1, T + 1), row * T);
      samples[row] = { ...info, id: `agentic:${info.id}` };
      this.injected.push(row);
    }
    return { ...batch, inputs, targets, samples };
  }

  /** Mean cross-entropy over the target tokens of successful trajectories in the injected rows. */
  private outcomeLoss(loss: LossContext): LossContext {
    if (!this.injected.length || this.options.outcomeWeight <= 0) return loss;
    const { batch } = loss;
    const T = batch.seqLen;
    const mask = new Float32Array(batch.size * T);
    let count = 0;
    for (const row of this.injected) {
      const s = batch.samples[row]!;
      s.documents.forEach((doc, j) => {
        if (!this.success.has(doc)) return;
        const from = j === 0 ? 0 : s.boundaries[j - 1]!;
        const to = j < s.boundaries.length ? s.boundaries[j]! : T;
        for (let t = from; t < to; t++) mask[row * T + t] = 1;
        count += to - from;
      });
    }
    if (!count) return loss;
    return { ...loss, terms: [...loss.terms, { kind: "masked-nll", name: "outcome", weight: this.options.outcomeWeight, mask }] };
  }

  state(): AgenticState {
    return { step: this.step, owed: this.owed, cursor: this.stream.cursor() };
  }

  restore(state: unknown): void {
    const s = state as AgenticState;
    this.step = s.step;
    this.owed = s.owed;
    if (this.stream) this.stream.restore(s.cursor);
    else this.pendingCursor = s.cursor;
  }
}

export const agenticPlugin: PluginDefinition<AgenticOptions> = {
  name: PLUGIN_NAME,
  kind: "method",
  description: "Inject tool-use trajectories into a share of each batch on a schedule, with outcome conditioning and an outcome-conditioned loss",
  hooks: ["runStart", "transformBatch", "transformLoss", "stepEnd"],
  optionsSchema: schema,
  create: (o) => new AgenticPlugin(o),
};
