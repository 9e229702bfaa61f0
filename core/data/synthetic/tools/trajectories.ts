/**
 * Agent trajectories in the simulated tool environment (agentic continual pre-training, AgentFounder
 * 2025): goal -> thought -> tool call (JSON) -> observation -> ... -> final answer, each labelled with its
 * outcome. A share of trajectories contains a deliberate mistake (a wrong lookup or wrong arithmetic) and
 * is labelled `failure`, so outcome-conditioned training has both kinds.
 */
import { createRng, type Rng } from "../../../rng.js";
import type { Document } from "../../documents.js";
import { ToolEnvironment, TOOLS, type ToolCall } from "./ToolEnvironment.js";

export interface ToolTask {
  id: string;
  goal: string;
  /** The reference calls, in order. */
  calls: ToolCall[];
  answer: number;
  /** Key-value state after a correct run. */
  finalState: Record<string, string>;
}

export interface Trajectory {
  task: ToolTask;
  text: string;
  outcome: "success" | "failure";
}

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

/** A task from the stream (envSeed, index). */
export function toolTask(env: ToolEnvironment, index: number): ToolTask {
  const rng = createRng(env.seed, `tools/task-${index}`);
  const a = pick(rng, env.records);
  let b = pick(rng, env.records);
  while (b === a) b = pick(rng, env.records);
  const key = pick(rng, ["total", "result", "sum", "answer", "stock"]) + "_" + (1 + rng.int(9));
  const kind = pick(rng, ["sum", "difference", "store"] as const);
  const id = `tools/${env.seed}-${index}`;
  if (kind === "sum") {
    const answer = a.count + b.count;
    return {
      id,
      goal: `Find how many items depots ${a.depot} and ${b.depot} store together, and save the total under the key "${key}".`,
      calls: [
        { tool: "search", args: { query: a.depot } },
        { tool: "search", args: { query: b.depot } },
        { tool: "calculator", args: { expression: `${a.count} + ${b.count}` } },
        { tool: "kv_set", args: { key, value: String(answer) } },
      ],
      answer,
      finalState: { [key]: String(answer) },
    };
  }
  if (kind === "difference") {
    const [hi, lo] = a.count >= b.count ? [a, b] : [b, a];
    const answer = hi.count - lo.count;
    return {
      id,
      goal: `How many more items does depot ${hi.depot} store than depot ${lo.depot}? Save the difference under the key "${key}".`,
      calls: [
        { tool: "search", args: { query: hi.depot } },
        { tool: "search", args: { query: lo.depot } },
        { tool: "calculator", args: { expression: `${hi.count} - ${lo.count}` } },
        { tool: "kv_set", args: { key, value: String(answer) } },
      ],
      answer,
      finalState: { [key]: String(answer) },
    };
  }
  return {
    id,
    goal: `Record the number of items at depot ${a.depot} under the key "${key}", then read it back and report it.`,
    calls: [
      { tool: "search", args: { query: a.depot } },
      { tool: "kv_set", args: { key, value: String(a.count) } },
      { tool: "kv_get", args: { key } },
    ],
    answer: a.count,
    finalState: { [key]: String(a.count) },
  };
}

function thoughtFor(call: ToolCall): string {
  switch (call.tool) {
    case "search":
      return `I need the record for depot ${call.args.query}.`;
    case "calculator":
      return `I compute ${call.args.expression}.`;
    case "kv_set":
      return `I save ${call.args.value} under "${call.args.key}".`;
    default:
      return `I read back "${call.args.key}".`;
  }
}

/** The prompt part of a trajectory: goal and tool list (what a model sees before acting). */
export function taskPrompt(task: ToolTask): string {
  return `Goal: ${task.goal}\nTools: ${TOOLS.map((t) => t.signature).join(", ")}\n`;
}

/**
 * Run a task in the environment, optionally with a mistake, and render the trajectory. The outcome
 * is judged by the environment: the final answer and the key-value state must both be right.
 */
export function trajectory(env: ToolEnvironment, task: ToolTask, mistake: boolean, rng: Rng): Trajectory {
  env.reset();
  const calls = task.calls.map((c) => ({ tool: c.tool, args: { ...c.args } }));
  if (mistake) {
    const calc = calls.find((c) => c.tool === "calculator");
    if (calc) calc.args.expression = String(calc.args.expression).replace(/\d+$/, (d) => String(Number(d) + 1 + rng.int(9)));
    else calls[0]!.args.query = pick(rng, env.records.filter((r) => r.depot !== calls[0]!.args.query)).depot;
  }
  const lines = [taskPrompt(task).trimEnd()];
  let last = "";
  let stored: string | undefined;
  for (const call of calls) {
    if (call.tool === "kv_set" && stored === undefined && last) call.args.value = last;
    lines.push(`Thought: ${thoughtFor(call)}`, `Action: ${JSON.stringify(call)}`);
    const obs = env.call(call);
    lines.push(`Observation: ${obs}`);
    const num = /(\d+)/.exec(obs);
    if (call.tool === "calculator") last = obs;
    else if (call.tool === "search" && num && !last) last = num[1]!;
    if (call.tool === "kv_set") stored = String(call.args.value);
  }
  const answer = task.calls.some((c) => c.tool === "kv_get") ? env.call({ tool: "kv_get", args: { key: String(task.calls.at(-1)!.args.key) } }) : last;
  const ok = answer === String(task.answer) && JSON.stringify(env.state()) === JSON.stringify(task.finalState);
  lines.push(`Final answer: ${answer}`, `Outcome: ${ok ? "success" : "failure"}`);
  return { task, text: lines.join("\n"), outcome: ok ? "success" : "failure" };
}

/** `count` trajectories; `failureShare` of them contain a mistake. */
export function trajectories(seed: number, count: number, failureShare = 0.2): Trajectory[] {
  const env = new ToolEnvironment(seed);
  const rng = createRng(seed, "tools/mistakes");
  return Array.from({ length: count }, (_, i) => trajectory(env, toolTask(env, i), rng.next() < failureShare, rng));
}

export function trajectoryDocument(t: Trajectory): Document {
  return { id: t.task.id, source: "agent-trajectories", text: t.text, meta: { outcome: t.outcome, difficulty: t.task.calls.length, answer: t.task.answer } };
}
