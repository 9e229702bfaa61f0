/**
 * Held-out probe items of the synthetic generators: the items whose ids the recipe holds out (never
 * trained on, and decontaminated against the training data), regenerated from the generator seed.
 */
import { codeItems, type CodeItem } from "../core/data/synthetic/code.js";
import { mathItems, type MathItem } from "../core/data/synthetic/math.js";
import { ToolEnvironment, type ToolCall } from "../core/data/synthetic/tools/ToolEnvironment.js";
import { toolTask, type ToolTask } from "../core/data/synthetic/tools/trajectories.js";
import { isHeldOut } from "../core/data/sources/general.js";

export const PROBE_SEED = 2026;
export const HELDOUT_SHARE = 0.05;

export function heldoutMath(count: number, pool = 6000, maxDifficulty = Infinity): MathItem[] {
  return mathItems(PROBE_SEED, pool).filter((i) => isHeldOut(i.id, HELDOUT_SHARE) && i.difficulty <= maxDifficulty).slice(0, count);
}

export function heldoutCode(count: number, pool = 3000): CodeItem[] {
  return codeItems(PROBE_SEED, pool).filter((i) => isHeldOut(i.id, HELDOUT_SHARE)).slice(0, count);
}

export function heldoutTools(count: number, pool = 2000): { env: ToolEnvironment; tasks: ToolTask[] } {
  const env = new ToolEnvironment(PROBE_SEED);
  const tasks: ToolTask[] = [];
  for (let i = 0; i < pool && tasks.length < count; i++) {
    const t = toolTask(env, i);
    if (isHeldOut(t.id, HELDOUT_SHARE)) tasks.push(t);
  }
  return { env, tasks };
}

/** The answer after "Answer:" in generated text, if any. */
export function parseAnswer(text: string): string | undefined {
  return /Answer:\s*(-?\d+)/.exec(text)?.[1];
}

export type { ToolCall };
