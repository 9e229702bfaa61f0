/**
 * A simulated tool environment with hidden state, shared by the agent-trajectory generator (training
 * data) and the tool-use probe (scoring): a search tool over a small generated record set, a calculator,
 * and a key-value store. Deterministic from a seed; `reset()` restores the initial state.
 */
import { createRng } from "../../../rng.js";
import { pluralize, vocabulary } from "../vocabulary.js";

export interface ToolCall {
  tool: string;
  args: Record<string, string | number>;
}

export interface ToolSpec {
  name: string;
  signature: string;
  description: string;
}

export const TOOLS: ToolSpec[] = [
  { name: "search", signature: "search(query)", description: "find the record that mentions a depot" },
  { name: "calculator", signature: "calculator(expression)", description: "evaluate + - * / on integers" },
  { name: "kv_set", signature: "kv_set(key, value)", description: "store a value under a key" },
  { name: "kv_get", signature: "kv_get(key)", description: "read the value stored under a key" },
];

export interface DepotRecord {
  depot: string;
  object: string;
  count: number;
  text: string;
}

const DEPOTS = ["Alder", "Birch", "Cedar", "Dune", "Ember", "Fjord", "Grove", "Harbor", "Ivory", "Juniper", "Kestrel", "Lumen", "Maple", "Nimbus", "Onyx", "Pioneer", "Quarry", "Raven", "Sable", "Tundra", "Umber", "Vale", "Willow", "Yarrow", "Zephyr"];

/** Evaluate an integer arithmetic expression with + - * / and parentheses; throws on anything else. */
export function calculate(expression: string): number {
  const tokens = expression.match(/\d+|[-+*/()]|\S/g) ?? [];
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => tokens[pos++];
  const primary = (): number => {
    const t = next();
    if (t === "(") {
      const v = sum();
      if (next() !== ")") throw new Error("missing )");
      return v;
    }
    if (t === "-") return -primary();
    if (t !== undefined && /^\d+$/.test(t)) return Number(t);
    throw new Error(`unexpected '${t ?? "end"}'`);
  };
  const product = (): number => {
    let v = primary();
    while (peek() === "*" || peek() === "/") v = next() === "*" ? v * primary() : v / primary();
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (peek() === "+" || peek() === "-") v = next() === "+" ? v + product() : v - product();
    return v;
  };
  const v = sum();
  if (pos !== tokens.length) throw new Error(`unexpected '${tokens[pos]}'`);
  return v;
}

export class ToolEnvironment {
  readonly records: DepotRecord[];
  private kv = new Map<string, string>();

  constructor(readonly seed: number) {
    const rng = createRng(seed, "tools/records");
    const { objects } = vocabulary();
    this.records = DEPOTS.map((depot) => {
      const object = pluralize(objects[rng.int(objects.length)]!);
      const count = 5 + rng.int(200);
      return { depot, object, count, text: `Depot ${depot} stores ${count} ${object}.` };
    });
  }

  reset(): void {
    this.kv.clear();
  }

  /** The key-value store's contents (the hidden state a task checks). */
  state(): Record<string, string> {
    return Object.fromEntries([...this.kv].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  /** Run one call and return the observation text. Bad calls return an error observation, never throw. */
  call(c: ToolCall): string {
    switch (c.tool) {
      case "search": {
        const q = String(c.args.query ?? "").toLowerCase();
        const hit = this.records.find((r) => q.includes(r.depot.toLowerCase()));
        return hit ? hit.text : `No results for "${c.args.query}".`;
      }
      case "calculator":
        try {
          return String(calculate(String(c.args.expression ?? "")));
        } catch (e) {
          return `Error: ${(e as Error).message}`;
        }
      case "kv_set":
        if (c.args.key === undefined || c.args.value === undefined) return "Error: kv_set needs key and value";
        this.kv.set(String(c.args.key), String(c.args.value));
        return "OK";
      case "kv_get":
        return this.kv.get(String(c.args.key ?? "")) ?? "null";
      default:
        return `Error: unknown tool '${c.tool}'`;
    }
  }
}

/** Whether a predicted call matches the expected one: same tool and the same arguments (as strings). */
export function callMatches(expected: ToolCall, predicted: ToolCall | undefined): boolean {
  if (!predicted || predicted.tool !== expected.tool) return false;
  const keys = new Set([...Object.keys(expected.args), ...Object.keys(predicted.args)]);
  for (const k of keys) if (String(expected.args[k]).trim() !== String(predicted.args[k] ?? "").trim()) return false;
  return true;
}

/** Parse an `Action: {...}` JSON line into a call, or undefined. */
export function parseAction(text: string): ToolCall | undefined {
  const m = /Action:\s*(\{.*\})/.exec(text);
  if (!m) return undefined;
  try {
    const j = JSON.parse(m[1]!) as ToolCall;
    return typeof j.tool === "string" && typeof j.args === "object" && j.args ? j : undefined;
  } catch {
    return undefined;
  }
}
