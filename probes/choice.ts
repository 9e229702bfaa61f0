/**
 * `choice`: multiple choice by log-likelihood over items you bring, scored as lm-evaluation-harness scores
 * its multiple_choice tasks: each choice's log-likelihood after the context, `acc` = the gold choice is the
 * most likely, `acc_norm` = the most likely per character of the choice. Context and choice are tokenized
 * together and split as the harness does (trailing spaces of the context move to the choice), so the same
 * items give the same figures here and in the harness (docs/probes.md shows the task YAML).
 * Items: a JSON array or JSON lines of { "context": "...", "choices": [" a", " b"], "gold": 0 }.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { continuationLogProb } from "../core/engine/LanguageModel.js";
import { ProbeError } from "../core/errors.js";
import { Samples } from "./stats.js";
import type { ProbeDefinition } from "./types.js";

export interface ChoiceItem {
  context: string;
  choices: string[];
  gold: number;
}

export function readChoiceItems(path: string): ChoiceItem[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new ProbeError(`choice: cannot read items file '${path}': ${(cause as Error).message}`);
  }
  const trimmed = text.trim();
  const items = (trimmed.startsWith("[") ? JSON.parse(trimmed) : trimmed.split("\n").filter(Boolean).map((l) => JSON.parse(l))) as ChoiceItem[];
  items.forEach((it, i) => {
    if (typeof it.context !== "string" || !Array.isArray(it.choices) || it.choices.length < 2 || !Number.isInteger(it.gold) || it.gold < 0 || it.gold >= it.choices.length) {
      throw new ProbeError(`choice: item ${i} of '${path}' needs "context" (text), "choices" (2 or more) and "gold" (the right choice's index)`);
    }
  });
  return items;
}

export const choice: ProbeDefinition = {
  name: "choice",
  description: "multiple choice by log-likelihood over your items (lm-evaluation-harness's acc and acc_norm)",
  params: { file: "JSON or JSON-lines items { context, choices, gold } (required; relative to the working directory)", items: "how many items to score (all)" },
  metrics: () => ["acc", "acc_norm"],
  async run({ model, tokenizer }, params) {
    if (typeof params.file !== "string") throw new ProbeError("choice: params.file names the items file");
    const items = readChoiceItems(resolve(params.file)).slice(0, Number(params.items ?? Infinity));
    const s = new Samples();
    for (const item of items) {
      // lm-evaluation-harness's _encode_pair: the context's trailing spaces move to the continuation, and
      // the continuation's tokens are those of context + continuation after the context's.
      const ctx = item.context.trimEnd();
      const moved = item.context.slice(ctx.length);
      const head = Array.from(tokenizer.encode(ctx));
      const lls: number[] = [];
      for (const c of item.choices) {
        const whole = Array.from(tokenizer.encode(ctx + moved + c));
        lls.push(await continuationLogProb(model, head, whole.slice(head.length), Infinity));
      }
      const argmax = (xs: number[]) => xs.indexOf(Math.max(...xs));
      s.add("acc", argmax(lls) === item.gold ? 1 : 0);
      s.add("acc_norm", argmax(lls.map((ll, i) => ll / item.choices[i]!.length)) === item.gold ? 1 : 0);
    }
    return s.result(items.length);
  },
};
