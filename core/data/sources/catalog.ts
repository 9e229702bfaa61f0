/**
 * Every source a recipe can name. Built-in sources read npm data packages or run the synthetic
 * generators; user sources read text or JSONL files. Each load returns documents plus any per-line
 * problems (counted and reported; fatal with `strict`).
 */
import { didYouMean, ownEntry } from "../../lookup.js";
import type { Source } from "../../config/generated/recipe.js";
import { DataError } from "../../errors.js";
import type { Document } from "../documents.js";
import { codeDocument, codeItems } from "../synthetic/code.js";
import { mathDocument, mathItems } from "../synthetic/math.js";
import { retrievalDocuments } from "../synthetic/retrieval.js";
import { copyDocuments } from "../synthetic/copy.js";
import { echoDocuments, recurrenceDocuments } from "../synthetic/repeats.js";
import { trajectories, trajectoryDocument } from "../synthetic/tools/trajectories.js";
import { loadBrown, loadSotu } from "./general.js";
import { loadLodash, loadSpdx, loadWordnet } from "./specialist.js";
import { loadUserSource, type SourceIssue } from "./user.js";

export interface SourceContext {
  syntheticSeed: number;
  strict?: boolean;
  cwd?: string;
}

interface BuiltinSource {
  description: string;
  kind: "general" | "specialist" | "code" | "synthetic" | "long-form";
  /** Default item count for generators. */
  defaultCount?: number;
  /**
   * false for task generators measured by their own probe (not by held-out loss): no held-out split, so
   * their shared filler is not mistaken for contamination of the training split.
   */
  holdOut?: boolean;
  load(ctx: SourceContext, count?: number): Document[];
}

/**
 * State of the Union speeches at or above this length (characters) are long-form documents. They keep
 * their `sotu/...` ids, so the held-out split (a hash of the id) is the one the base model was trained with.
 */
export const LONG_SPEECH_CHARS = 50_000;

export const BUILTIN_SOURCES: Record<string, BuiltinSource> = {
  sotu: { kind: "general", description: "State of the Union addresses under 50k characters (public domain)", load: () => loadSotu().filter((d) => d.text.length < LONG_SPEECH_CHARS) },
  brown: { kind: "general", description: "Brown corpus, 500 samples of 15 genres of 1961 American English", load: loadBrown },
  spdx: { kind: "specialist", description: "727 licence texts from the SPDX licence list (legal)", load: loadSpdx },
  wordnet: { kind: "specialist", description: "WordNet 3.1 definitions, grouped by lexicographer file", load: () => loadWordnet() },
  lodash: { kind: "code", description: "lodash's per-function JavaScript modules", load: loadLodash },
  "sotu-long": { kind: "long-form", description: "whole State of the Union addresses of 50k characters or more", load: () => loadSotu().filter((d) => d.text.length >= LONG_SPEECH_CHARS).map((d) => ({ ...d, source: "sotu-long" })) },
  "synthetic-math": { kind: "synthetic", defaultCount: 6000, description: "multi-step arithmetic word problems with step-by-step solutions", load: (ctx, n) => mathItems(ctx.syntheticSeed, n ?? 6000).map(mathDocument) },
  "synthetic-code": { kind: "synthetic", defaultCount: 3000, description: "tiny programs with line-by-line execution traces and output", load: (ctx, n) => codeItems(ctx.syntheticSeed, n ?? 3000).map(codeDocument) },
  "synthetic-retrieval": { kind: "synthetic", defaultCount: 1500, holdOut: false, description: "long-context retrieval: training-split Brown filler with key-value facts recalled at the end of each unit", load: (ctx, n) => retrievalDocuments(ctx.syntheticSeed, n ?? 1500) },
  "synthetic-copy": { kind: "synthetic", defaultCount: 4000, holdOut: false, description: "induction: a list of names with 4-digit numbers, then the same list again", load: (ctx, n) => copyDocuments(ctx.syntheticSeed, n ?? 4000) },
  "synthetic-echo": { kind: "synthetic", defaultCount: 4000, holdOut: false, description: "copying: short runs of English, each followed on the next line by itself", load: (ctx, n) => echoDocuments(ctx.syntheticSeed, n ?? 4000) },
  "synthetic-recurrence": { kind: "synthetic", defaultCount: 4000, holdOut: false, description: "induction: English passages in which short spans recur later, unmarked", load: (ctx, n) => recurrenceDocuments(ctx.syntheticSeed, n ?? 4000) },
  "agent-trajectories": { kind: "synthetic", defaultCount: 2000, description: "tool-use trajectories (search, calculator, key-value store) labelled with their outcome", load: (ctx, n) => trajectories(ctx.syntheticSeed, n ?? 2000).map(trajectoryDocument) },
};

export interface LoadedDocuments {
  name: string;
  documents: Document[];
  issues: SourceIssue[];
  /** Whether a held-out split is taken (default true). */
  holdOut?: boolean;
}

export function sourceName(spec: Source): string {
  return typeof spec === "string" ? spec : spec.name;
}

export function loadSource(spec: Source, ctx: SourceContext): LoadedDocuments {
  const s = typeof spec === "string" ? { name: spec, type: "builtin" as const } : { type: "builtin" as const, ...spec };
  if (s.type === "builtin") {
    const b = ownEntry(BUILTIN_SOURCES, s.name);
    if (!b) throw new DataError(`unknown built-in source '${s.name}'${didYouMean(s.name, Object.keys(BUILTIN_SOURCES))}: known sources are ${Object.keys(BUILTIN_SOURCES).join(", ")}; for your own files use { "name": ..., "type": "text" | "jsonl", "path": ... }`);
    const documents = b.load(ctx, "count" in s ? s.count : undefined);
    if (!documents.length) throw new DataError(`source '${s.name}' produced no documents`);
    return { name: s.name, documents, issues: [], holdOut: b.holdOut ?? true };
  }
  if (!("path" in s) || !s.path) throw new DataError(`source '${s.name}' of type '${s.type}' needs a "path"`);
  const loaded = loadUserSource({ name: s.name, type: s.type, path: s.path, textField: s.textField, idField: s.idField, extensions: s.extensions }, { strict: ctx.strict, cwd: ctx.cwd });
  return { name: s.name, ...loaded };
}
