/**
 * Selective training as a built-in plugin: the frozen set is a pure function of (config, completed steps)
 * (model/freeze.ts), applied to the engine before a step whenever it changes (frozen parameters get no
 * gradient, no update and no moments), with each progressive-unfreezing release recorded in
 * decisions.jsonl as `unfreeze`.
 */
import type { FreezeConfig, ModelConfig } from "../config/types.js";
import { freezePlan } from "../model/freeze.js";
import { parameterSpecs, type ParamSpec } from "../model/Transformer.js";
import type { MtxPlugin, TrainerApi } from "../plugin.js";

export const FREEZE_PLUGIN = "freeze";

export interface FreezePluginDeps {
  setFrozen(names: string[]): Promise<void>;
  record(decision: Record<string, unknown>): void;
}

export class FreezePlugin implements MtxPlugin {
  readonly name = FREEZE_PLUGIN;
  private readonly specs: ParamSpec[];
  private frozen = new Set<string>();
  private applied: string | undefined;

  constructor(private readonly model: ModelConfig, private readonly cfg: FreezeConfig, private readonly deps: FreezePluginDeps) {
    this.specs = parameterSpecs(model);
  }

  /** The frozen set after `completedSteps` steps. */
  plan(completedSteps: number): { frozen: Set<string>; released: string[] } {
    return freezePlan(this.specs, this.model.nLayers, this.cfg, !!this.model.adapters, completedSteps);
  }

  /** Parameters trained under the current plan. */
  get trainableParams(): number {
    let n = 0;
    for (const s of this.specs) if (!this.frozen.has(s.name)) n += s.shape.reduce((a, b) => a * b, 1);
    return n;
  }

  get frozenCount(): number {
    return this.frozen.size;
  }

  /** Set the engine's frozen parameters for the step after `completedSteps` (when they changed). */
  async sync(completedSteps: number, trainer?: TrainerApi): Promise<void> {
    const plan = this.plan(completedSteps);
    const key = [...plan.frozen].sort().join(",");
    if (key === this.applied) return;
    const released = [...this.frozen].filter((n) => !plan.frozen.has(n));
    const wasSet = this.applied !== undefined;
    this.frozen = plan.frozen;
    this.applied = key;
    await this.deps.setFrozen([...plan.frozen]);
    if (wasSet && released.length && trainer) {
      const layer = plan.released.at(-1);
      const reason = `progressive unfreezing: ${layer} trains from step ${completedSteps + 1}; ${this.trainableParams.toLocaleString("en-US")} trainable parameters`;
      this.deps.record({ step: completedSteps + 1, action: "unfreeze", plugin: FREEZE_PLUGIN, reason, layer, time: new Date().toISOString() });
      trainer.log.info(reason);
    }
  }

  apply(trainer: TrainerApi): void {
    if (!this.cfg.unfreezeAt.length) return;
    trainer.hooks.prepareStep.tapPromise(FREEZE_PLUGIN, async ({ step }) => {
      if (this.cfg.unfreezeAt.includes(step)) await this.sync(step - 1, trainer);
    });
  }

  /** After a rollback the plan of the restored step applies (quietly: nothing was released). */
  restoreAt(completedSteps: number): Promise<void> {
    this.applied = undefined;
    return this.sync(completedSteps);
  }
}
