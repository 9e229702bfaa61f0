/**
 * Synthetic long-context retrieval documents for context-extension stages (the synthetic key-value and
 * needle tasks long-context recipes mix in). A document is a run of units; each unit is natural filler
 * text (training-split Brown samples, never the held-out ones) with one to `factsPerUnit` facts "The
 * special magic number for KEY is: VALUE." at random depths, closed by the questions that recall them in
 * a random order, some more than once. Unit lengths spread from short to about `maxUnitChars`, so
 * distances up to the new context are all trained. Several facts per unit make the model find the value
 * by its key, not by position, and put several copy targets in each unit instead of one.
 *
 * The facts use people's names as keys; the needle probe uses object names, so no probe item is ever
 * trained on, only the skill.
 */
import { createRng, permutation, type Rng } from "../../rng.js";
import type { Document } from "../documents.js";
import { fillerRun } from "./filler.js";
import { vocabulary } from "./vocabulary.js";

export interface RetrievalOptions {
  unitsPerDocument?: number;
  minUnitChars?: number;
  maxUnitChars?: number;
  factsPerUnit?: number;
}

function unit(rng: Rng, chars: number, maxFacts: number): string {
  const { names } = vocabulary();
  const facts = new Map<string, string>();
  const count = 1 + rng.int(maxFacts);
  while (facts.size < count) facts.set(names[rng.int(names.length)]!, String(1000 + rng.int(9000)));
  const hay = fillerRun((n) => rng.int(n), chars);
  for (const [key, value] of facts) hay.splice(rng.int(hay.length + 1), 0, `The special magic number for ${key} is: ${value}.`);
  // Every fact is asked, plus up to `count` extra questions about facts drawn at random, all in a random
  // order: a recall line sometimes follows one with the same key. Asked only once each, adjacent recall lines always had
  // different keys, and the model learnt never to copy the value on the line just before the question
  // (the needle right before the question then failed half the time).
  const all = [...facts];
  const asked = [...all, ...Array.from({ length: rng.int(count + 1) }, () => all[rng.int(all.length)]!)];
  const questions = permutation(asked.length, rng).map((i) => asked[i]!);
  return `${hay.join(" ")}\n${questions.map(([key, value]) => `The special magic number for ${key} is: ${value}.`).join("\n")}`;
}

export function retrievalDocuments(seed: number, count: number, o: RetrievalOptions = {}): Document[] {
  const units = o.unitsPerDocument ?? 4;
  const min = o.minUnitChars ?? 150;
  const max = o.maxUnitChars ?? 1000;
  const facts = o.factsPerUnit ?? 4;
  return Array.from({ length: count }, (_, i) => {
    const rng = createRng(seed, `retrieval/${i}`);
    const text = Array.from({ length: units }, () => unit(rng, min + rng.int(max - min), facts)).join("\n\n");
    return { id: `retrieval/${seed}-${i}`, source: "synthetic-retrieval", text };
  });
}
