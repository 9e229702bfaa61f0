/**
 * Tiny programs (a Python subset: assignments, arithmetic, a for loop, an if/else, print) with a
 * line-by-line execution trace and their output. The generator builds the program as data and executes
 * it directly, so the trace and output are right by construction. Difficulty is the number of executed
 * statements. Deterministic from (seed, index).
 */
import { createRng, type Rng } from "../../rng.js";
import type { Document } from "../documents.js";
import { vocabulary } from "./vocabulary.js";

export interface CodeItem {
  id: string;
  difficulty: number;
  program: string;
  trace: string;
  output: string;
}

type Expr = { text: string; eval: (env: Map<string, number>) => number };


function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

function expr(rng: Rng, defined: string[]): Expr {
  const lit = 1 + rng.int(9);
  if (!defined.length || rng.next() < 0.2) return { text: String(lit), eval: () => lit };
  const v = pick(rng, defined);
  const op = pick(rng, ["+", "-", "*", "%"] as const);
  const k = op === "%" ? 2 + rng.int(4) : op === "*" ? 2 + rng.int(3) : lit;
  const f = { "+": (x: number) => x + k, "-": (x: number) => x - k, "*": (x: number) => x * k, "%": (x: number) => ((x % k) + k) % k }[op];
  return { text: `${v} ${op} ${k}`, eval: (env) => f(env.get(v)!) };
}

export function codeItem(seed: number, index: number, size: number): CodeItem {
  const rng = createRng(seed, `code/${index}`);
  // Variable names are nouns from the vocabulary, so programs read like code and rarely coincide.
  const { objects } = vocabulary();
  const VARS: string[] = [];
  while (VARS.length < 6) {
    const v = pick(rng, objects);
    if (!VARS.includes(v) && !["if", "else", "for", "in", "print", "range"].includes(v)) VARS.push(v);
  }
  const env = new Map<string, number>();
  const lines: string[] = [];
  const trace: string[] = [];
  const out: string[] = [];
  const defined: string[] = [];
  const assign = (indent: string) => {
    const target = defined.length > 2 && rng.next() < 0.5 ? pick(rng, defined) : pick(rng, VARS.filter((v) => !defined.includes(v)));
    const e = expr(rng, defined);
    return {
      text: `${indent}${target} = ${e.text}`,
      run: (lineNo: number) => {
        env.set(target, e.eval(env));
        trace.push(`line ${lineNo}: ${target} = ${env.get(target)}`);
      },
      define: () => {
        if (!defined.includes(target)) defined.push(target);
      },
    };
  };
  // Straight-line assignments.
  const straight = 2 + rng.int(Math.max(1, size));
  for (let s = 0; s < straight; s++) {
    const st = assign("");
    lines.push(st.text);
    st.run(lines.length);
    st.define();
  }
  // A loop that updates one variable.
  if (size >= 2) {
    const iters = 2 + rng.int(3);
    const acc = pick(rng, defined);
    const k = 1 + rng.int(5);
    lines.push(`for i in range(${iters}):`);
    const loopLine = lines.length;
    lines.push(`    ${acc} = ${acc} + i * ${k}`);
    for (let i = 0; i < iters; i++) {
      env.set(acc, env.get(acc)! + i * k);
      trace.push(`line ${loopLine + 1} (i=${i}): ${acc} = ${env.get(acc)}`);
    }
  }
  // A branch, then print.
  const v = pick(rng, defined);
  const t = 1 + rng.int(20);
  const w = pick(rng, defined);
  lines.push(`if ${v} > ${t}:`, `    print(${v})`, "else:", `    print(${w})`);
  const cond = env.get(v)! > t;
  trace.push(`line ${lines.length - 3}: ${v} > ${t} is ${cond ? "True" : "False"}`);
  const printed = cond ? env.get(v)! : env.get(w)!;
  trace.push(`line ${cond ? lines.length - 2 : lines.length}: print ${printed}`);
  out.push(String(printed));
  return { id: `code/${seed}-${index}`, difficulty: trace.length, program: lines.join("\n"), trace: trace.join("\n"), output: out.join("\n") };
}

export function codeItems(seed: number, count: number, maxSize = 5): CodeItem[] {
  return Array.from({ length: count }, (_, i) => codeItem(seed, i, 1 + (i % maxSize)));
}

export function codeDocument(item: CodeItem): Document {
  return {
    id: item.id,
    source: "synthetic-code",
    text: `Program:\n${item.program}\nTrace:\n${item.trace}\nOutput: ${item.output}`,
    meta: { difficulty: item.difficulty, answer: item.output },
  };
}
