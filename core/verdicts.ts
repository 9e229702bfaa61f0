/**
 * Verdicts: how guardrails act. A plugin returns a verdict from a bail hook (`shouldSkipStep`,
 * `shouldHalt`); it never throws to stop a run. The trainer carries the verdict out and appends it, with
 * its evidence, to RUN/decisions.jsonl.
 */

export type VerdictAction = "skip" | "reduce-lr" | "rollback" | "halt";

export interface Verdict {
  action: VerdictAction;
  /** One sentence a person can act on: what was seen and why it matters. */
  reason: string;
  /** Plugin that decided (the trainer itself uses "trainer"). */
  plugin: string;
  /** The numbers behind the decision: values, window statistics, sample ids, sources. */
  evidence?: Record<string, unknown>;
  /** reduce-lr: factor applied to the scheduled LR (default 0.5). */
  lrFactor?: number;
  /** reduce-lr: for how many steps, this one included (default 50). */
  lrSteps?: number;
  /** rollback: sample ids to skip when the data is replayed after the rollback. */
  skipSamples?: string[];
}

/** A verdict as recorded in decisions.jsonl. */
export interface VerdictRecord extends Verdict {
  step: number;
  /** What the trainer did, e.g. "update skipped", "rolled back to step 100". */
  outcome: string;
  time: string;
}

/** Which actions each bail hook may return. */
export const ALLOWED_ACTIONS = {
  shouldSkipStep: ["skip", "reduce-lr", "rollback", "halt"],
  shouldHalt: ["rollback", "halt"],
} as const satisfies Record<string, readonly VerdictAction[]>;

/** Short text for logs: `[spike] skip at step 120: loss 9.1 is 7.2 sigma above the window mean`. */
export function formatVerdict(v: VerdictRecord): string {
  return `[${v.plugin}] ${v.action} at step ${v.step}: ${v.reason} (${v.outcome})`;
}
