/**
 * `tool-use`: held-out tasks in the simulated tool environment (the one that generated the training
 * trajectories). `callAccuracy`: the first emitted call (tool name and arguments) matches the reference;
 * `validCallRate`: the first line is a well-formed Action naming a real tool; `toolAccuracy`: the first
 * Action line names the reference's tool, even if its JSON is malformed (the format is learnt first).
 * `successRate`: a full rollout (the model writes Thought/Action lines, the environment answers each
 * Action with an Observation) ends with the right final answer and key-value state. `pass^k` (tau-bench):
 * the share of tasks whose k sampled rollouts all succeed. `condition: "success"` starts every prompt with
 * the outcome prefix that outcome-conditioned training (the `agentic` plugin) puts before trajectories.
 */
import { createRng, type Rng } from "../core/rng.js";
import { callMatches, parseAction, TOOLS } from "../core/data/synthetic/tools/ToolEnvironment.js";
import { taskPrompt, type ToolTask } from "../core/data/synthetic/tools/trajectories.js";
import type { ToolEnvironment } from "../core/data/synthetic/tools/ToolEnvironment.js";
import { heldoutTools } from "./items.js";
import { Samples } from "./stats.js";
import type { ProbeContext, ProbeDefinition } from "./types.js";

/** Generate until an Action or Final answer line is complete; returns the new text. */
async function nextLine(ctx: ProbeContext, text: string, temperature: number, rng: Rng | undefined, maxTokens = 48): Promise<string> {
  const [ids] = await ctx.model.generate([Array.from(ctx.tokenizer.encode(text))], {
    maxTokens,
    temperature,
    seed: temperature > 0 && rng ? rng.int(2 ** 31) : undefined,
    stopTokens: [ctx.tokenizer.eosId],
    stopPattern: "(Action:[^\\n]*\\n|Final answer:[^\\n]*\\n)",
  });
  return ctx.tokenizer.decode(ids!);
}

async function rollout(ctx: ProbeContext, env: ToolEnvironment, task: ToolTask, prefix: string, temperature: number, rng: Rng | undefined): Promise<boolean> {
  env.reset();
  let text = prefix + taskPrompt(task);
  for (let turn = 0; turn < task.calls.length + 2; turn++) {
    const added = await nextLine(ctx, text, temperature, rng);
    text += added;
    const final = /Final answer:\s*([^\n]*)/.exec(added);
    if (final) return final[1]!.trim() === String(task.answer) && JSON.stringify(env.state()) === JSON.stringify(task.finalState);
    const call = parseAction(added);
    if (!call) return false;
    text = text.replace(/\n?$/, "\n") + `Observation: ${env.call(call)}\n`;
  }
  return false;
}

export const toolUse: ProbeDefinition = {
  name: "tool-use",
  description: "simulated tools with hidden state: first-call match, rollout success, pass^k",
  params: { tasks: "tasks (20)", k: "rollouts per task for pass^k (1: greedy only)", temperature: "sampling temperature for pass^k (0.7)", condition: "an 'Outcome: ...' line before each task (agentic's conditioning)" },
  metrics: (p) => ["callAccuracy", "validCallRate", "toolAccuracy", "successRate", ...(Number(p.k ?? 1) > 1 ? [`pass^${Number(p.k)}`] : [])],
  async run(ctx, params) {
    const { env, tasks } = heldoutTools(Number(params.tasks ?? 20));
    const k = Number(params.k ?? 1);
    const rng = createRng(ctx.seed, "tool-use");
    const prefix = params.condition ? `Outcome: ${String(params.condition)}\n` : "";
    const s = new Samples();
    for (const task of tasks) {
      const firstText = await nextLine(ctx, prefix + taskPrompt(task), 0, undefined);
      const first = parseAction(firstText);
      s.add("callAccuracy", callMatches(task.calls[0]!, first) ? 1 : 0);
      s.add("validCallRate", first && TOOLS.some((t) => t.name === first.tool) ? 1 : 0);
      s.add("toolAccuracy", /Action:\s*\{\s*"tool"\s*:\s*"([a-z_]+)"/.exec(firstText)?.[1] === task.calls[0]!.tool ? 1 : 0);
      s.add("successRate", (await rollout(ctx, env, task, prefix, 0, undefined)) ? 1 : 0);
      if (k > 1) {
        let all = true;
        for (let i = 0; i < k && all; i++) all = await rollout(ctx, env, task, prefix, Number(params.temperature ?? 0.7), rng);
        s.add(`pass^${k}`, all ? 1 : 0);
      }
    }
    return s.result(tasks.length);
  },
};
