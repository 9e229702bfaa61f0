/**
 * Seeded random streams. There is one stream per purpose (`createRng(seed, "data")`,
 * `createRng(seed, "init")`), so adding draws to one purpose never shifts another; each stream's state is
 * plain JSON and goes into checkpoints.
 */
import seedrandom from "seedrandom";

export type RngState = object;

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal (Box-Muller). */
  normal(): number;
  /** Serialisable state; `restoreRng(state)` continues the same sequence. */
  state(): RngState;
}

function wrap(prng: seedrandom.StatefulPRNG<seedrandom.State.Arc4>, spare?: number): Rng {
  return {
    next: () => prng(),
    int: (n) => Math.floor(prng() * n),
    normal() {
      if (spare !== undefined) {
        const s = spare;
        spare = undefined;
        return s;
      }
      let u = 0;
      while (u === 0) u = prng();
      const v = prng();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    state: () => ({ prng: prng.state(), spare: spare ?? null }),
  };
}

/** A generator for one purpose, derived from the run seed and a label. */
export function createRng(seed: number, label: string): Rng {
  return wrap(seedrandom(`${seed}:${label}`, { state: true }));
}

/** Continue a generator from a state captured with `rng.state()`. */
export function restoreRng(state: RngState): Rng {
  const s = state as { prng: seedrandom.State.Arc4; spare: number | null };
  return wrap(seedrandom("", { state: s.prng }), s.spare ?? undefined);
}

/** Fisher-Yates shuffle of indices 0..n-1 with the given generator. */
export function permutation(n: number, rng: Rng): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
