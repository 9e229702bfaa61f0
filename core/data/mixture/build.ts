/**
 * Builds a recipe's data: loads every source, splits off held-out documents, then runs the quality
 * steps on the training documents in order (filters -> exact dedup -> near dedup -> decontamination),
 * recording per source what each step removed. Deterministic: same recipe, same result.
 */
import { DataError } from "../../errors.js";
import type { Document } from "../documents.js";
import { ContaminationIndex } from "../quality/decontaminate.js";
import { checkDocument, DEFAULT_FILTERS, type FilterName, type FilterOptions } from "../quality/filters.js";
import { MinHasher, nearDuplicateClusters } from "../quality/minhash.js";
import { contentHash } from "../quality/normalize.js";
import { loadSource, sourceName } from "../sources/catalog.js";
import { isHeldOut } from "../sources/general.js";
import type { SourceIssue } from "../sources/user.js";
import type { ResolvedGroup, ResolvedRecipe } from "./recipe.js";

export type RemovalReason = FilterName | "exact-duplicate" | "near-duplicate" | "contaminated";

export interface SourceReport {
  group: string;
  loaded: number;
  heldout: number;
  removed: Partial<Record<RemovalReason, number>>;
  kept: number;
  keptChars: number;
  badRecords: number;
}

export interface ClusterReport {
  size: number;
  kept: string;
  removed: string[];
}

export interface BuiltGroup extends ResolvedGroup {
  documents: Document[];
}

export interface BuiltMixture {
  recipe: ResolvedRecipe;
  groups: BuiltGroup[];
  /** Held-out documents by source (never trained on; evaluation and probe material). */
  heldout: Record<string, Document[]>;
  report: Record<string, SourceReport>;
  nearDuplicateClusters: ClusterReport[];
  issues: SourceIssue[];
  /** A few examples per removal reason, for inspection. */
  examples: { id: string; reason: RemovalReason; detail: string }[];
}

export interface BuildOptions {
  strict?: boolean;
  cwd?: string;
  /** Log progress lines. */
  log?: (line: string) => void;
}

/** Training documents whose 8-grams also appear in more than this many training documents are generic phrases, not leaks. */
const GENERIC_NGRAM_DOCS = 10;

export function buildMixture(recipe: ResolvedRecipe, opts: BuildOptions = {}): BuiltMixture {
  const log = opts.log ?? (() => {});
  const report: Record<string, SourceReport> = {};
  const heldout: Record<string, Document[]> = {};
  const issues: SourceIssue[] = [];
  const examples: BuiltMixture["examples"] = [];
  const remove = (d: Document, reason: RemovalReason, detail: string) => {
    const r = report[d.source]!;
    r.removed[reason] = (r.removed[reason] ?? 0) + 1;
    if (examples.filter((e) => e.reason === reason).length < 5) examples.push({ id: d.id, reason, detail });
  };

  // 1. Load and split.
  const train = new Map<string, Document[]>(); // by group
  for (const g of recipe.groups) {
    const docs: Document[] = [];
    const filters: FilterOptions = { ...DEFAULT_FILTERS, ...recipe.quality.filters, ...g.filters };
    for (const spec of g.sources) {
      const loaded = loadSource(spec, { syntheticSeed: recipe.syntheticSeed, strict: opts.strict, cwd: opts.cwd });
      const name = sourceName(spec);
      issues.push(...loaded.issues);
      const r: SourceReport = { group: g.name, loaded: loaded.documents.length, heldout: 0, removed: {}, kept: 0, keptChars: 0, badRecords: loaded.issues.length };
      report[name] = r;
      heldout[name] = [];
      for (const raw of loaded.documents) {
        const d = raw.source === name ? raw : { ...raw, source: name };
        if (loaded.holdOut !== false && isHeldOut(d.id, recipe.heldoutShare)) {
          heldout[name]!.push(d);
          r.heldout++;
          continue;
        }
        const bad = checkDocument(d.text, filters);
        if (bad) remove(d, bad.filter, bad.detail);
        else docs.push(d);
      }
      log(`source ${name}: ${r.loaded} documents, ${r.heldout} held out`);
    }
    train.set(g.name, docs);
  }

  // 2. Exact duplicates (normalised text), across all sources: the first occurrence in recipe order is kept.
  if (recipe.quality.exactDedup) {
    const seen = new Set<string>();
    for (const [g, docs] of train) {
      train.set(
        g,
        docs.filter((d) => {
          const h = contentHash(d.text);
          if (seen.has(h)) {
            remove(d, "exact-duplicate", "same normalised text as an earlier document");
            return false;
          }
          seen.add(h);
          return true;
        }),
      );
    }
  }

  // 3. Near duplicates with MinHash LSH, within and across sources.
  const clusters: ClusterReport[] = [];
  if (recipe.quality.nearDedup) {
    const all = [...train.values()].flat();
    const { clusters: found } = nearDuplicateClusters(
      all.map((d) => d.text),
      recipe.quality.nearDedupThreshold,
      new MinHasher(),
    );
    const drop = new Set<Document>();
    for (const c of found) {
      const [keep, ...rest] = c.map((i) => all[i]!);
      clusters.push({ size: c.length, kept: keep!.id, removed: rest.map((d) => d.id) });
      for (const d of rest) {
        drop.add(d);
        remove(d, "near-duplicate", `near-duplicate of ${keep!.id}`);
      }
    }
    for (const [g, docs] of train) train.set(g, docs.filter((d) => !drop.has(d)));
    log(`near-dedup: ${clusters.length} clusters, ${drop.size} documents removed`);
  }

  // 4. Decontamination against every held-out document (probe and evaluation material). An 8-gram is
  // evidence of a leak when it is specific to one or two held-out items and rare in the training set; an
  // 8-gram common to many training documents is a template or a formula of the genre, not a leak.
  if (recipe.quality.decontaminate) {
    const items = Object.values(heldout).flat();
    const index = new ContaminationIndex(items.map((d) => ({ id: d.id, text: d.text })));
    const docFreq = new Map<string, number>();
    const hits = new Map<Document, string[]>();
    for (const docs of train.values()) {
      for (const d of docs) {
        const found = index.matchAll(d.text);
        if (!found.length) continue;
        hits.set(d, found);
        for (const g of found) docFreq.set(g, (docFreq.get(g) ?? 0) + 1);
      }
    }
    let removed = 0;
    for (const [g, docs] of train) {
      train.set(
        g,
        docs.filter((d) => {
          const shared = hits.get(d)?.filter((n) => docFreq.get(n)! <= GENERIC_NGRAM_DOCS);
          if (!shared?.length) return true;
          const perItem = new Map<string, string[]>();
          for (const n of shared) {
            const item = index.itemOf(n)!;
            perItem.set(item, [...(perItem.get(item) ?? []), n]);
          }
          const leak = [...perItem].find(([item, grams]) => grams.length >= index.leakThreshold(item));
          if (!leak) return true;
          removed++;
          remove(d, "contaminated", `shares ${leak[1].length} 8-gram(s) with held-out item ${leak[0]}, e.g. "${leak[1][0]}"`);
          return false;
        }),
      );
    }
    log(`decontamination: ${removed} training documents removed`);
  }

  const groups: BuiltGroup[] = recipe.groups.map((g) => ({ ...g, documents: train.get(g.name)! }));
  for (const g of groups) {
    if (!g.documents.length) throw new DataError(`group '${g.name}' has no training documents left after the quality steps; see 'mtx data inspect --recipe ...'`);
    for (const d of g.documents) {
      const r = report[d.source]!;
      r.kept++;
      r.keptChars += d.text.length;
    }
  }
  return { recipe, groups, heldout, report, nearDuplicateClusters: clusters, issues, examples };
}
