/**
 * Where probes run off the step loop, behind a small interface so the pool library can be replaced (Vitest
 * replaced its pool library once): worker threads for models this process can hold (PiscinaProbePool), the
 * main thread for models that live elsewhere (InProcessProbePool: the PyTorch engine's eval process, a
 * server). A task is plain structured-clone data; a crash, a timeout or an abort becomes a `ProbeError`
 * result, never a dead run.
 */
import type { ProbeTarget } from "../engine/Engine.js";
import { NOT_SUPPORTED, ProbeError } from "../errors.js";

export interface ProbeTask {
  /** Which probe runs (a built-in name, or a module path for a custom probe). */
  probe: string;
  /** The model it measures. */
  target: ProbeTarget;
  params: Record<string, unknown>;
  /** Seed of any sampling the probe does. */
  seed: number;
}

export type ProbeOutcome<T> = { ok: true; value: T; ms: number } | { ok: false; error: ProbeError; ms: number };

export interface RunOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface ProbePool {
  run<T>(task: ProbeTask, options?: RunOptions): Promise<ProbeOutcome<T>>;
  /** Tasks queued or running. */
  readonly pending: number;
  close(): Promise<void>;
}

/** Convert whatever a worker threw into a ProbeError naming the probe. */
export function toProbeError(probe: string, cause: unknown): ProbeError {
  if (cause instanceof ProbeError) return cause;
  const name = (cause as Error)?.name;
  if (name === "AbortError") return new ProbeError(`probe '${probe}' was cancelled`, { cause });
  if (name === "TimeoutError") return new ProbeError(`probe '${probe}' timed out`, { cause });
  // What the model source cannot do keeps its leading words: the suite reports it as not supported, not a crash.
  const message = (cause as Error)?.message;
  if (typeof message === "string" && message.startsWith(NOT_SUPPORTED)) return new ProbeError(`${message} (probe '${probe}')`, { cause });
  return new ProbeError(`probe '${probe}' failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
}

/** The buffers of a weights target, to move rather than copy into a worker. */
export function transferList(task: ProbeTask): ArrayBuffer[] {
  return task.target.kind === "weights" ? Object.values(task.target.weights).map((w) => w.buffer as ArrayBuffer) : [];
}

/**
 * A pool that reports the forward compute of each finished probe (ProbeResult.compute) to `spend`: how a
 * run counts what its probes, drift and curriculum measurements cost beside training.
 */
export function countingPool(pool: ProbePool, spend: (compute: { tokens: number; flops: number }) => void): ProbePool {
  return {
    async run<T>(task: ProbeTask, options?: RunOptions): Promise<ProbeOutcome<T>> {
      const outcome = await pool.run<T>(task, options);
      const compute = outcome.ok ? (outcome.value as { compute?: { tokens: number; flops: number } } | undefined)?.compute : undefined;
      if (compute) spend(compute);
      return outcome;
    },
    get pending() {
      return pool.pending;
    },
    close: () => pool.close(),
  };
}
