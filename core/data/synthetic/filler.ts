/**
 * Natural filler text for synthetic documents: sentences of the Brown corpus's training split (never the
 * held-out samples the probes and the forgetting signal read). Loaded once and cached.
 */
import { isHeldOut, loadBrown } from "../sources/general.js";

/** Held-out share of the general sources the filler must avoid (the recipes' default heldoutShare). */
const GENERAL_HELDOUT_SHARE = 0.05;

export function sentencesOf(text: string): string[] {
  return text
    .replace(/\s+/g, " ")
    .split(/(?<=[.!?])\s+/)
    .filter((s) => s.length > 20 && s.length < 400);
}

let cache: string[] | undefined;

/** Training-split Brown sentences, in corpus order. */
export function fillerSentences(): string[] {
  cache ??= loadBrown()
    .filter((d) => !isHeldOut(d.id, GENERAL_HELDOUT_SHARE))
    .flatMap((d) => sentencesOf(d.text));
  return cache;
}

/** Consecutive filler sentences from a random start until they reach `chars` characters. */
export function fillerRun(next: (n: number) => number, chars: number): string[] {
  const sentences = fillerSentences();
  const out: string[] = [];
  let at = next(sentences.length);
  for (let length = 0; length < chars; ) {
    const s = sentences[at++ % sentences.length]!;
    out.push(s);
    length += s.length + 1;
  }
  return out;
}
