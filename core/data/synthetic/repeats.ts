/**
 * Synthetic in-context copying documents, the data that gives a small base model induction heads (the
 * skill needle retrieval rests on; Olsson et al. 2022). Natural text predicts few of its tokens by
 * copying, so a base pretrained on a few million tokens of it never learns to copy (the `induction`
 * probe reads a gain near 0). Two sources, used in that order by `npm run fixtures:base`:
 *
 * - `synthetic-echo`: short runs of filler words, each followed on the next line by itself. Half the
 *   tokens are predictable by copying, and where the copy starts is marked, so copying (reading a token
 *   at an earlier position and writing it to the output) is learned within about a thousand steps.
 * - `synthetic-recurrence`: filler passages in which a few short spans recur later, at random points and
 *   unmarked. Only finding the earlier occurrence of the current tokens predicts what follows, so the
 *   copying turns into induction: matching by content, at any distance, in ordinary text.
 *
 * Filler is the Brown corpus's training split, so both read as English to the model's other circuits.
 */
import { createRng, type Rng } from "../../rng.js";
import type { Document } from "../documents.js";
import { fillerRun, fillerSentences } from "./filler.js";

export interface EchoOptions {
  linesPerDocument?: number;
  minWords?: number;
  maxWords?: number;
}

export interface RecurrenceOptions {
  passagesPerDocument?: number;
  minPassageChars?: number;
  maxPassageChars?: number;
  spansPerPassage?: number;
  minSpanWords?: number;
  maxSpanWords?: number;
}

let wordCache: string[] | undefined;
const fillerWords = () => (wordCache ??= fillerSentences().join(" ").split(" "));

export function echoDocuments(seed: number, count: number, o: EchoOptions = {}): Document[] {
  const lines = o.linesPerDocument ?? 12;
  const min = o.minWords ?? 4;
  const max = o.maxWords ?? 16;
  const words = fillerWords();
  return Array.from({ length: count }, (_, i) => {
    const rng = createRng(seed, `echo/${i}`);
    const units = Array.from({ length: lines }, () => {
      const n = min + rng.int(max - min + 1);
      const at = rng.int(words.length - n);
      const run = words.slice(at, at + n).join(" ");
      return `${run}\n${run}`;
    });
    return { id: `echo/${seed}-${i}`, source: "synthetic-echo", text: units.join("\n\n") };
  });
}

/** A filler passage with `spans` runs of its own words copied to later, random word positions. */
function recurrencePassage(rng: Rng, chars: number, spans: number, minWords: number, maxWords: number): string {
  const words = fillerRun((n) => rng.int(n), chars).join(" ").split(" ");
  for (let s = 0; s < spans; s++) {
    const n = minWords + rng.int(maxWords - minWords + 1);
    if (words.length < n + 2) break;
    const from = rng.int(words.length - n - 1);
    const to = from + n + 1 + rng.int(words.length - from - n);
    words.splice(to, 0, ...words.slice(from, from + n));
  }
  return words.join(" ");
}

export function recurrenceDocuments(seed: number, count: number, o: RecurrenceOptions = {}): Document[] {
  const passages = o.passagesPerDocument ?? 6;
  const minChars = o.minPassageChars ?? 200;
  const maxChars = o.maxPassageChars ?? 600;
  return Array.from({ length: count }, (_, i) => {
    const rng = createRng(seed, `recurrence/${i}`);
    const text = Array.from({ length: passages }, () => recurrencePassage(rng, minChars + rng.int(maxChars - minChars), o.spansPerPassage ?? 3, o.minSpanWords ?? 3, o.maxSpanWords ?? 12)).join("\n\n");
    return { id: `recurrence/${seed}-${i}`, source: "synthetic-recurrence", text };
  });
}
