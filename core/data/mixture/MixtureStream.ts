/**
 * Draws training sequences from a mixture of groups. Each group packs its own documents (PackedStream);
 * a group with a curriculum is cut into difficulty buckets, and the bucket it draws from follows the
 * run's progress (easy to hard over the run). Which group supplies the next sequence is decided by stratified
 * (deficit) sampling: every draw adds each group's weight to its credit and the group with the largest
 * credit minus draws supplies the sequence. The realised share of every group then stays within one
 * sequence of its target over any window, which random sampling cannot promise (and which Aioli, ICLR
 * 2025, found no dynamic method reliably beats). Weights can change mid-run (proctor-driven mixing); the
 * scheduled share is then the running mean of the weights in force at each draw.
 */
import { DataError } from "../../errors.js";
import { assembleBatch, type Batch, type BatchSource, type DataCursor, type SampleInfo } from "../batch.js";
import type { Document } from "../documents.js";
import { PackedStream, type PackedCursor } from "../PackedStream.js";
import type { Tokenizer } from "../tokenizer/Tokenizer.js";
import type { BuiltGroup } from "./build.js";
import type { ResolvedGroup } from "./recipe.js";

/**
 * A curriculum group's documents cut into equal buckets by difficulty (the generator's difficulty, or
 * length), easiest bucket first for "easy-to-hard"; ties keep document order.
 */
export function curriculumBuckets(docs: Document[], c: NonNullable<ResolvedGroup["curriculum"]>): Document[][] {
  const raw = (d: Document) => (c.key === "length" ? d.text.length : Number(d.meta?.difficulty ?? 0));
  // Difficulty scales differ between sources (operations vs trace lines): rank within each source.
  const bySource = new Map<string, number[]>();
  for (const d of docs) {
    const v = bySource.get(d.source) ?? [];
    v.push(raw(d));
    bySource.set(d.source, v);
  }
  for (const v of bySource.values()) v.sort((a, b) => a - b);
  const percentile = (d: Document) => {
    const v = bySource.get(d.source)!;
    const k = raw(d);
    let lo = 0;
    let hi = v.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (v[mid]! < k) lo = mid + 1;
      else hi = mid;
    }
    return v.length > 1 ? lo / (v.length - 1) : 0;
  };
  const sign = c.order === "easy-to-hard" ? 1 : -1;
  const sorted = docs.map((d, i) => ({ d, i, k: percentile(d) })).sort((a, b) => sign * (a.k - b.k) || a.i - b.i);
  const size = Math.ceil(sorted.length / c.buckets);
  const out: Document[][] = [];
  for (let b = 0; b < sorted.length; b += size) out.push(sorted.slice(b, b + size).map((x) => x.d));
  return out;
}

export interface MixtureCursor extends DataCursor {
  weights: number[];
  credit: number[];
  drawn: number[];
  /** Sum over draws of the weight in force, per group (the scheduled share times draws). */
  scheduled: number[];
  /** Per group, one cursor per bucket (one bucket without a curriculum). */
  streams: PackedCursor[][];
  /** Run progress in [0, 1], which paces curricula. */
  progress: number;
  /** Group index of the last `WINDOW - 1` draws, for the window audit. */
  recent: number[];
  /** Largest deviation seen in any full window, per group. */
  worstWindow: number[];
  /** Sequences and tokens per source label. */
  sources: Record<string, number>;
}

/** Audit window, in sequences. */
export const WINDOW = 1000;

export interface MixtureStreamOptions {
  groups: BuiltGroup[];
  tokenizer: Tokenizer;
  seqLen: number;
  batchSize: number;
  seed: number;
}

export class MixtureStream implements BatchSource {
  private readonly streams: PackedStream[][];
  private state: MixtureCursor;
  private readonly skipped = new Set<string>();
  readonly groupNames: string[];

  constructor(private readonly opts: MixtureStreamOptions) {
    if (!opts.groups.length) throw new DataError("a mixture needs at least one group");
    this.groupNames = opts.groups.map((g) => g.name);
    this.streams = opts.groups.map((g) =>
      (g.curriculum ? curriculumBuckets(g.documents, g.curriculum) : [g.documents]).map(
        (docs, b) =>
          new PackedStream({ documents: docs, tokenizer: opts.tokenizer, seqLen: opts.seqLen, batchSize: 1, seed: opts.seed, label: g.curriculum ? `data/${g.name}/bucket-${b}` : `data/${g.name}`, group: g.name }),
      ),
    );
    const n = opts.groups.length;
    this.state = {
      weights: opts.groups.map((g) => g.weight),
      credit: new Array(n).fill(0),
      drawn: new Array(n).fill(0),
      scheduled: new Array(n).fill(0),
      streams: this.streams.map((g) => g.map((s) => s.cursor())),
      progress: 0,
      recent: [],
      worstWindow: new Array(n).fill(0),
      sources: {},
    };
  }

  skip(ids: Iterable<string>): void {
    for (const id of ids) this.skipped.add(id);
  }

  /** Set the run's progress in [0, 1] (paces curriculum groups). */
  setProgress(progress: number): void {
    this.state.progress = Math.min(1, Math.max(0, progress));
  }

  /** Current weights by group name. */
  weights(): Record<string, number> {
    return Object.fromEntries(this.groupNames.map((g, i) => [g, this.state.weights[i]!]));
  }

  /** Replace the weights (normalised here); takes effect from the next draw. */
  setWeights(weights: Record<string, number>): void {
    const w = this.groupNames.map((g) => {
      const v = weights[g];
      if (v === undefined || !(v >= 0)) throw new DataError(`mixture weight for group '${g}' is ${v}; give a non-negative number for every group`);
      return v;
    });
    const total = w.reduce((a, b) => a + b, 0);
    if (!(total > 0)) throw new DataError("mixture weights must not all be zero");
    this.state.weights = w.map((x) => x / total);
  }

  private pickGroup(): number {
    const s = this.state;
    let best = 0;
    let bestDeficit = -Infinity;
    for (let g = 0; g < s.weights.length; g++) {
      s.credit[g]! += s.weights[g]!;
      s.scheduled[g]! += s.weights[g]!;
      const deficit = s.credit[g]! - s.drawn[g]!;
      if (deficit > bestDeficit + 1e-12) {
        best = g;
        bestDeficit = deficit;
      }
    }
    s.drawn[best]! += 1;
    return best;
  }

  private audit(g: number): void {
    const s = this.state;
    s.recent.push(g);
    if (s.recent.length > WINDOW) s.recent.shift();
    if (s.recent.length === WINDOW) {
      const counts = new Array(s.weights.length).fill(0);
      for (const x of s.recent) counts[x]++;
      for (let i = 0; i < counts.length; i++) s.worstWindow[i] = Math.max(s.worstWindow[i]!, Math.abs(counts[i] / WINDOW - s.weights[i]!));
    }
  }

  /** The next sequence of the mixture, written into `window` (T+1 tokens). */
  nextSequence(window: Int32Array): SampleInfo {
    const g = this.pickGroup();
    const buckets = this.streams[g]!;
    const bucket = Math.min(buckets.length - 1, Math.floor(this.state.progress * buckets.length));
    let info = buckets[bucket]!.nextSequence(window);
    // A skipped sequence is read past; each stream's order never changes, so replays stay deterministic.
    for (let guard = 0; this.skipped.has(info.id) && guard < 10_000; guard++) info = buckets[bucket]!.nextSequence(window);
    this.audit(g);
    this.state.sources[info.source] = (this.state.sources[info.source] ?? 0) + 1;
    return info;
  }

  next(): Batch {
    return assembleBatch((w) => this.nextSequence(w), this.opts.batchSize, this.opts.seqLen);
  }

  cursor(): MixtureCursor {
    return structuredClone({ ...this.state, streams: this.streams.map((g) => g.map((s) => s.cursor())) });
  }

  restore(cursor: DataCursor): void {
    const c = cursor as MixtureCursor;
    const shape = (x: unknown[][]) => x.map((g) => g.length).join(",");
    if (!Array.isArray(c.streams) || !c.streams.every(Array.isArray) || shape(c.streams) !== shape(this.streams)) {
      throw new DataError(`data cursor does not fit the recipe's groups and curriculum buckets: the recipe changed since the checkpoint`);
    }
    this.streams.forEach((g, i) => g.forEach((s, b) => s.restore(c.streams[i]![b]!)));
    this.state = structuredClone(c);
  }

  /** The mixture audit: scheduled vs realised share per group, and per-source sequence counts. */
  report(): MixtureAudit {
    const s = this.state;
    const total = s.drawn.reduce((a, b) => a + b, 0);
    const groups: MixtureAudit["groups"] = {};
    this.groupNames.forEach((g, i) => {
      groups[g] = {
        scheduled: total ? s.scheduled[i]! / total : s.weights[i]!,
        realised: total ? s.drawn[i]! / total : 0,
        weight: s.weights[i]!,
        sequences: s.drawn[i]!,
        tokens: s.drawn[i]! * this.opts.seqLen,
        worstWindowDeviation: s.recent.length >= WINDOW || total >= WINDOW ? s.worstWindow[i]! : null,
      };
    });
    const sources: MixtureAudit["sources"] = {};
    for (const [src, n] of Object.entries(s.sources).sort()) sources[src] = { sequences: n, share: total ? n / total : 0 };
    return { sequences: total, tokens: total * this.opts.seqLen, window: WINDOW, groups, sources };
  }
}

export interface MixtureAudit {
  sequences: number;
  tokens: number;
  window: number;
  groups: Record<string, { scheduled: number; realised: number; weight: number; sequences: number; tokens: number; worstWindowDeviation: number | null }>;
  sources: Record<string, { sequences: number; share: number }>;
}
