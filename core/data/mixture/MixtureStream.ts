/**
 * Draws training sequences from a mixture of groups. Each group packs its own documents (PackedStream,
 * with its curriculum if any); which group supplies the next sequence is decided by stratified
 * (deficit) sampling: every draw adds each group's weight to its credit and the group with the largest
 * credit minus draws supplies the sequence. The realised share of every group then stays within one
 * sequence of its target over any window, which random sampling cannot promise (and which Aioli, ICLR
 * 2025, found no dynamic method reliably beats). Weights can change mid-run (proctor-driven mixing); the
 * scheduled share is then the running mean of the weights in force at each draw.
 */
import { DataError } from "../../errors.js";
import type { Batch, BatchSource, DataCursor, SampleInfo } from "../batch.js";
import { PackedStream, type PackedCursor } from "../PackedStream.js";
import type { Tokenizer } from "../tokenizer/Tokenizer.js";
import type { BuiltGroup } from "./build.js";

export interface MixtureCursor extends DataCursor {
  weights: number[];
  credit: number[];
  drawn: number[];
  /** Sum over draws of the weight in force, per group (the scheduled share times draws). */
  scheduled: number[];
  streams: PackedCursor[];
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
  private readonly streams: PackedStream[];
  private state: MixtureCursor;
  readonly groupNames: string[];

  constructor(private readonly opts: MixtureStreamOptions) {
    if (!opts.groups.length) throw new DataError("a mixture needs at least one group");
    this.groupNames = opts.groups.map((g) => g.name);
    this.streams = opts.groups.map(
      (g) =>
        new PackedStream({
          documents: g.documents,
          tokenizer: opts.tokenizer,
          seqLen: opts.seqLen,
          batchSize: 1,
          seed: opts.seed,
          label: `data/${g.name}`,
          group: g.name,
          curriculum: g.curriculum
            ? { keys: g.documents.map((d) => (g.curriculum!.key === "length" ? d.text.length : Number(d.meta?.difficulty ?? 0))), order: g.curriculum.order, buckets: g.curriculum.buckets }
            : undefined,
        }),
    );
    const n = opts.groups.length;
    this.state = {
      weights: opts.groups.map((g) => g.weight),
      credit: new Array(n).fill(0),
      drawn: new Array(n).fill(0),
      scheduled: new Array(n).fill(0),
      streams: this.streams.map((s) => s.cursor()),
      recent: [],
      worstWindow: new Array(n).fill(0),
      sources: {},
    };
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
    const info = this.streams[g]!.nextSequence(window);
    this.audit(g);
    this.state.sources[info.source] = (this.state.sources[info.source] ?? 0) + 1;
    return info;
  }

  next(): Batch {
    const { batchSize: B, seqLen: T } = this.opts;
    const inputs = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    const window = new Int32Array(T + 1);
    const samples: SampleInfo[] = [];
    for (let b = 0; b < B; b++) {
      samples.push(this.nextSequence(window));
      inputs.set(window.subarray(0, T), b * T);
      targets.set(window.subarray(1, T + 1), b * T);
    }
    return { size: B, seqLen: T, inputs, targets, samples };
  }

  cursor(): MixtureCursor {
    return structuredClone({ ...this.state, streams: this.streams.map((s) => s.cursor()) });
  }

  restore(cursor: DataCursor): void {
    const c = cursor as MixtureCursor;
    if (!Array.isArray(c.streams) || c.streams.length !== this.streams.length) {
      throw new DataError(`data cursor has ${Array.isArray(c.streams) ? c.streams.length : "no"} group streams, the recipe has ${this.streams.length}: the recipe changed since the checkpoint`);
    }
    this.streams.forEach((s, i) => s.restore(c.streams[i]!));
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
