/**
 * The data manifest: documents, tokens and shares per source, what each quality step removed, and the
 * near-duplicate clusters. Written by `mtx data build` and printed by `mtx data inspect`.
 */
import type { Tokenizer } from "../tokenizer/Tokenizer.js";
import type { BuiltMixture, RemovalReason } from "./build.js";

export interface SourceSummary {
  group: string;
  documents: number;
  heldout: number;
  chars: number;
  /** Exact, or estimated from a sample of documents when `estimated` is set. */
  tokens: number;
  /** Share of the group's training tokens. */
  shareOfGroup: number;
  removed: Partial<Record<RemovalReason, number>>;
  badRecords: number;
}

export interface DataManifest {
  recipe: string;
  origin: string;
  tokensEstimated: boolean;
  groups: Record<string, { weight: number; replay: boolean; sources: string[]; documents: number; tokens: number }>;
  sources: Record<string, SourceSummary>;
  removedTotal: Partial<Record<RemovalReason, number>>;
  nearDuplicateClusters: { count: number; documents: number; largest: { size: number; kept: string; removed: string[] }[] };
  issues: { file: string; line?: number; message: string }[];
}

/** Token counts per source: exact, or from every k-th document (`sample` per source) scaled by characters. */
function countTokens(docs: { text: string }[], tokenizer: Tokenizer, sample: number | undefined): number {
  if (!docs.length) return 0;
  if (!sample || docs.length <= sample) return docs.reduce((a, d) => a + tokenizer.encode(d.text).length, 0);
  const step = docs.length / sample;
  let chars = 0;
  let tokens = 0;
  for (let i = 0; i < sample; i++) {
    const d = docs[Math.floor(i * step)]!;
    chars += d.text.length;
    tokens += tokenizer.encode(d.text).length;
  }
  return Math.round((tokens / chars) * docs.reduce((a, d) => a + d.text.length, 0));
}

export function dataManifest(m: BuiltMixture, tokenizer: Tokenizer, opts: { sample?: number } = {}): DataManifest {
  const sources: Record<string, SourceSummary> = {};
  const groups: DataManifest["groups"] = {};
  for (const g of m.groups) {
    const bySource = new Map<string, { text: string }[]>();
    for (const d of g.documents) {
      const list = bySource.get(d.source) ?? [];
      list.push(d);
      bySource.set(d.source, list);
    }
    let groupTokens = 0;
    const names = Object.entries(m.report).filter(([, r]) => r.group === g.name).map(([n]) => n);
    for (const name of names) {
      const docs = bySource.get(name) ?? [];
      const r = m.report[name]!;
      const tokens = countTokens(docs, tokenizer, opts.sample);
      groupTokens += tokens;
      sources[name] = { group: g.name, documents: docs.length, heldout: r.heldout, chars: r.keptChars, tokens, shareOfGroup: 0, removed: r.removed, badRecords: r.badRecords };
    }
    for (const name of names) sources[name]!.shareOfGroup = groupTokens ? sources[name]!.tokens / groupTokens : 0;
    groups[g.name] = { weight: g.weight, replay: g.replay, sources: names, documents: g.documents.length, tokens: groupTokens };
  }
  const removedTotal: DataManifest["removedTotal"] = {};
  for (const r of Object.values(m.report)) for (const [k, v] of Object.entries(r.removed)) removedTotal[k as RemovalReason] = (removedTotal[k as RemovalReason] ?? 0) + v;
  const clusters = [...m.nearDuplicateClusters].sort((a, b) => b.size - a.size);
  return {
    recipe: m.recipe.name,
    origin: m.recipe.origin,
    tokensEstimated: !!opts.sample,
    groups,
    sources,
    removedTotal,
    nearDuplicateClusters: { count: clusters.length, documents: clusters.reduce((a, c) => a + c.size, 0), largest: clusters.slice(0, 10) },
    issues: m.issues,
  };
}

/** The manifest as a table for people. */
export function formatManifest(man: DataManifest): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const reasons: RemovalReason[] = ["length", "repeated-ngrams", "char-ratio", "exact-duplicate", "near-duplicate", "contaminated"];
  const head = ["source", "group", "docs", "held out", man.tokensEstimated ? "~tokens" : "tokens", "of group", ...reasons.map((r) => r.replace("-duplicate", "-dup").replace("repeated-ngrams", "rep-ngram")), "bad records"];
  const rows = Object.entries(man.sources).map(([name, s]) => [name, s.group, String(s.documents), String(s.heldout), s.tokens.toLocaleString("en-US"), pct(s.shareOfGroup), ...reasons.map((r) => String(s.removed[r] ?? 0)), String(s.badRecords)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const out = [`recipe '${man.recipe}' (${man.origin})`, "", line(head), ...rows.map(line), ""];
  out.push("groups: " + Object.entries(man.groups).map(([g, v]) => `${g} ${pct(v.weight)}${v.replay ? " (replay)" : ""}: ${v.documents} docs, ${v.tokens.toLocaleString("en-US")} tokens`).join("; "));
  out.push(`near-duplicate clusters: ${man.nearDuplicateClusters.count} (${man.nearDuplicateClusters.documents} documents)` + (man.nearDuplicateClusters.largest.length ? `; largest: ${man.nearDuplicateClusters.largest.slice(0, 3).map((c) => `${c.kept} +${c.removed.length}`).join(", ")}` : ""));
  if (man.issues.length) out.push(`bad records: ${man.issues.length}; first: ${man.issues.slice(0, 3).map((i) => `${i.file}${i.line ? `:${i.line}` : ""}: ${i.message}`).join("; ")}`);
  return out.join("\n") + "\n";
}
