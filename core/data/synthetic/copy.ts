/**
 * Synthetic copy documents for context-extension stages: a list of random names with 4-digit numbers,
 * then the same list again. Half of each document is predictable only by finding the earlier occurrence
 * and copying what followed it, the induction behaviour retrieval at long range depends on; in natural
 * text and in retrieval units such targets are a few tokens in a hundred. Lists run from a few items to
 * about `maxItems`, so the copy distance spans the new context.
 */
import { createRng } from "../../rng.js";
import type { Document } from "../documents.js";
import { vocabulary } from "./vocabulary.js";

export interface CopyOptions {
  minItems?: number;
  maxItems?: number;
}

export function copyDocuments(seed: number, count: number, o: CopyOptions = {}): Document[] {
  const { names } = vocabulary();
  const min = o.minItems ?? 4;
  const max = o.maxItems ?? 40;
  return Array.from({ length: count }, (_, i) => {
    const rng = createRng(seed, `copy/${i}`);
    const n = min + rng.int(max - min + 1);
    const items = Array.from({ length: n }, () => `${names[rng.int(names.length)]!} ${1000 + rng.int(9000)}`).join(", ");
    return { id: `copy/${seed}-${i}`, source: "synthetic-copy", text: `List: ${items}.\nThe same list again: ${items}.` };
  });
}
