/**
 * MinHash signatures with LSH banding for near-duplicate detection (Broder 1997; FineWeb's setup:
 * word 5-gram shingles, 14 bands x 8 rows = 112 hashes, so P(candidate | Jaccard s) = 1-(1-s^8)^14, which
 * crosses 0.5 near s = 0.72). Written here because the npm `minhash` package is unmaintained and loses
 * precision (it multiplies 32-bit values in doubles past 2^53). Hash i of a shingle is a seeded
 * multiply-xorshift of its 32-bit FNV-1a hash, all in exact 32-bit integer arithmetic.
 */
import { createRng } from "../../rng.js";

export interface MinHashOptions {
  bands: number;
  rows: number;
  shingle: number;
  seed: number;
}

export const FINEWEB_MINHASH: MinHashOptions = { bands: 14, rows: 8, shingle: 5, seed: 1 };

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Lower-cased word tokens (letters and digits). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

export class MinHasher {
  private readonly a: Uint32Array;
  private readonly b: Uint32Array;
  readonly size: number;

  constructor(readonly opts: MinHashOptions = FINEWEB_MINHASH) {
    this.size = opts.bands * opts.rows;
    const rng = createRng(opts.seed, "minhash");
    this.a = Uint32Array.from({ length: this.size }, () => (Math.floor(rng.next() * 0xffffffff) | 1) >>> 0);
    this.b = Uint32Array.from({ length: this.size }, () => Math.floor(rng.next() * 0xffffffff) >>> 0);
  }

  /** Signature of a text's word shingles (empty text gets an all-max signature). */
  signature(text: string): Uint32Array {
    const w = words(text);
    const sig = new Uint32Array(this.size).fill(0xffffffff);
    const n = Math.max(1, w.length - this.opts.shingle + 1);
    for (let i = 0; i < n; i++) {
      const h = fnv1a(w.slice(i, i + this.opts.shingle).join(" "));
      for (let k = 0; k < this.size; k++) {
        let x = (Math.imul(h, this.a[k]!) + this.b[k]!) >>> 0;
        x ^= x >>> 15;
        x = Math.imul(x, 0x2c1b3c6d) >>> 0;
        x ^= x >>> 12;
        if (x >>> 0 < sig[k]!) sig[k] = x >>> 0;
      }
    }
    return sig;
  }

  /** Estimated Jaccard similarity of two signatures. */
  static similarity(a: Uint32Array, b: Uint32Array): number {
    let same = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
    return same / a.length;
  }

  /** Band keys of a signature (one string per band). */
  bands(sig: Uint32Array): string[] {
    const out: string[] = [];
    for (let b = 0; b < this.opts.bands; b++) out.push(`${b}:${Array.from(sig.subarray(b * this.opts.rows, (b + 1) * this.opts.rows)).join(",")}`);
    return out;
  }
}

/** Exact Jaccard similarity of two texts' shingle sets (for reporting and tests). */
export function jaccard(x: string, y: string, shingle = 5): number {
  const set = (t: string) => {
    const w = words(t);
    const s = new Set<string>();
    for (let i = 0; i + shingle <= Math.max(w.length, shingle); i++) s.add(w.slice(i, i + shingle).join(" "));
    return s;
  };
  const a = set(x);
  const b = set(y);
  let inter = 0;
  for (const v of a) if (b.has(v)) inter++;
  return inter / (a.size + b.size - inter || 1);
}

export interface NearDuplicateClusters {
  /** Each cluster lists document indices; the first is the one kept. */
  clusters: number[][];
}

/**
 * Clusters of near-duplicates: documents sharing any LSH band become candidates, and candidates whose
 * estimated similarity reaches `threshold` are joined (union-find), so a chain of near-duplicates forms
 * one cluster. Clusters are in order of their first member.
 */
export function nearDuplicateClusters(texts: string[], threshold = 0.72, hasher = new MinHasher()): NearDuplicateClusters {
  const sigs = texts.map((t) => hasher.signature(t));
  const parent = Int32Array.from(texts, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  const buckets = new Map<string, number[]>();
  sigs.forEach((sig, i) => {
    for (const key of hasher.bands(sig)) {
      const list = buckets.get(key);
      if (list) {
        for (const j of list) {
          if (find(i) !== find(j) && MinHasher.similarity(sig, sigs[j]!) >= threshold) {
            const [ri, rj] = [find(i), find(j)];
            parent[Math.max(ri, rj)] = Math.min(ri, rj);
          }
        }
        list.push(i);
      } else buckets.set(key, [i]);
    }
  });
  const groups = new Map<number, number[]>();
  for (let i = 0; i < texts.length; i++) {
    const r = find(i);
    groups.set(r, [...(groups.get(r) ?? []), i]);
  }
  return { clusters: [...groups.values()].filter((g) => g.length > 1).sort((a, b) => a[0]! - b[0]!) };
}
