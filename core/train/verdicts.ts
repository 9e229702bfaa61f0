/**
 * Verdicts are carried out here and nowhere else: asked of the bail hooks, checked against what each hook
 * allows, applied (skip, reduce-lr, rollback, halt), recorded in decisions.jsonl with their evidence and
 * outcome, and announced on the `verdict` hook.
 */
import { PluginError } from "../errors.js";
import type { StepContext, TrainerHooks } from "../hooks.js";
import { ALLOWED_ACTIONS, formatVerdict, type OnErrorPolicy, type Verdict, type VerdictAction, type VerdictRecord } from "../plugin.js";
import type { RunState } from "./RunState.js";

export type Outcome = VerdictAction;

export interface VerdictDeps {
  hooks: TrainerHooks;
  state: RunState;
  policyOf(plugin: string): OnErrorPolicy;
  /** Append to decisions.jsonl. */
  record(decision: Record<string, unknown>): void;
  /** Report a plugin's contract violation through its onError policy (throws for `halt`). */
  pluginError(error: PluginError): void;
  warn(message: string): void;
  /**
   * Go back to the newest checkpoint tagged good, skipping `samples` from now on; returns its step and
   * directory, or undefined when there is none.
   */
  rollback(samples: string[]): Promise<{ step: number; dir: string } | undefined>;
}

export class Verdicts {
  /** Every verdict carried out this run (for summary.json). */
  readonly carriedOut: VerdictRecord[] = [];

  constructor(private readonly d: VerdictDeps) {}

  /** The verdict of a bail hook, if any; one its hook does not allow is a contract violation of the plugin. */
  ask(hook: "shouldSkipStep" | "shouldHalt", ctx: StepContext): Verdict | undefined {
    const v = this.d.hooks[hook].call(ctx) as Verdict | undefined;
    if (!v) return undefined;
    const allowed = ALLOWED_ACTIONS[hook] as readonly string[];
    if (!allowed.includes(v.action)) {
      this.d.pluginError(new PluginError(v.plugin ?? "unknown", hook, `plugin '${v.plugin}' returned action '${v.action}' from ${hook}; allowed there: ${allowed.join(", ")}`));
      return undefined;
    }
    return v;
  }

  /** Carry out `v` at `ctx.step`, record it, and say what happened (a rollback without a good checkpoint halts). */
  async carryOut(v: Verdict, ctx: StepContext): Promise<Outcome> {
    let outcome: string;
    let done: Outcome = v.action;
    switch (v.action) {
      case "skip":
        outcome = "update skipped";
        break;
      case "reduce-lr": {
        const factor = v.lrFactor ?? 0.5;
        const steps = v.lrSteps ?? 50;
        this.d.state.lrReduction = { factor, untilStep: ctx.step + steps - 1 };
        outcome = `LR x${factor} for steps ${ctx.step}-${ctx.step + steps - 1}`;
        break;
      }
      case "rollback": {
        const to = await this.d.rollback(v.skipSamples ?? []);
        if (!to) {
          done = "halt";
          outcome = "no checkpoint tagged good to roll back to: halted instead";
        } else outcome = `rolled back to step ${to.step} (${to.dir})`;
        break;
      }
      case "halt":
        outcome = "run halted";
        break;
    }
    const record = { ...v, step: ctx.step, outcome, time: new Date().toISOString() } as VerdictRecord;
    this.carriedOut.push(record);
    this.d.state.lastVerdictStep = ctx.step;
    this.d.record(record as unknown as Record<string, unknown>);
    this.d.warn(formatVerdict(record));
    this.d.hooks.verdict.call(record);
    return done;
  }
}
