/**
 * Synthetic multi-step arithmetic word problems with a step-by-step solution trace and a final
 * `Answer: N` line. Difficulty is the number of operations. Deterministic from (seed, index): item i is
 * always the same problem, so held-out items (by a hash of the id) are stable probe material.
 */
import { createRng, type Rng } from "../../rng.js";
import type { Document } from "../documents.js";
import { pluralize, vocabulary } from "./vocabulary.js";

export interface MathItem {
  id: string;
  difficulty: number;
  /** The question, ending with the question sentence. */
  question: string;
  /** Step lines, then `Answer: N`. */
  solution: string;
  answer: number;
}

type Op = { kind: "add" | "sub" | "mul" | "div"; n: number; text: string };

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

/** One problem of `difficulty` operations from the generator stream (seed, index). */
export function mathItem(seed: number, index: number, difficulty: number): MathItem {
  const rng = createRng(seed, `math/${index}`);
  const { names, objects } = vocabulary();
  const who = pick(rng, names);
  let other = pick(rng, names);
  while (other === who) other = pick(rng, names);
  const object = pick(rng, objects);
  const thing = pluralize(object);
  const count = (n: number) => `${n} ${n === 1 ? object : thing}`;
  let value = 2 + rng.int(19);
  const sentences = [`${who} has ${count(value)}.`];
  const steps: string[] = [];
  for (let k = 0; k < difficulty; k++) {
    const kinds: Op["kind"][] = ["add", "sub", "mul"];
    if (value > 1) kinds.push("div");
    let op: Op | undefined;
    while (!op) {
      const kind = pick(rng, kinds);
      if (kind === "add") {
        const n = 1 + rng.int(15);
        op = { kind, n, text: pick(rng, [`${who} buys ${n} more ${n === 1 ? object : thing}.`, `${other} gives ${who} ${count(n)}.`, `${who} finds ${n} more ${n === 1 ? object : thing}.`]) };
      } else if (kind === "sub" && value > 1) {
        const n = 1 + rng.int(value - 1);
        op = { kind, n, text: pick(rng, [`${who} gives ${count(n)} to ${other}.`, `${who} loses ${count(n)}.`, `${who} uses ${count(n)}.`]) };
      } else if (kind === "mul" && value <= 60) {
        const n = 2 + rng.int(3);
        op = { kind, n, text: pick(rng, [`Then the number of ${thing} ${who} has becomes ${n} times as large.`, `${who} multiplies the ${thing} by ${n}.`]) };
      } else if (kind === "div") {
        const divisors = [2, 3, 4, 5].filter((d) => value % d === 0 && value / d >= 1);
        if (divisors.length) {
          const n = pick(rng, divisors);
          op = { kind, n, text: `${who} splits the ${thing} into ${n} equal groups and keeps one group.` };
        }
      }
    }
    const before = value;
    value = op.kind === "add" ? value + op.n : op.kind === "sub" ? value - op.n : op.kind === "mul" ? value * op.n : value / op.n;
    const sym = { add: "+", sub: "-", mul: "*", div: "/" }[op.kind];
    sentences.push(op.text);
    steps.push(`Step ${k + 1}: ${before} ${sym} ${op.n} = ${value}.`);
  }
  const question = `${sentences.join(" ")} How many ${thing} does ${who} have now?`;
  return { id: `math/${seed}-${index}`, difficulty, question, solution: `${steps.join("\n")}\nAnswer: ${value}`, answer: value };
}

/** `count` problems with difficulty cycling 1..maxDifficulty. */
export function mathItems(seed: number, count: number, maxDifficulty = 6): MathItem[] {
  return Array.from({ length: count }, (_, i) => mathItem(seed, i, 1 + (i % maxDifficulty)));
}

export function mathDocument(item: MathItem): Document {
  return { id: item.id, source: "synthetic-math", text: `Problem: ${item.question}\nSolution:\n${item.solution}`, meta: { difficulty: item.difficulty, answer: item.answer } };
}
