/**
 * Where probes run: worker threads, behind a small interface so the pool library can be replaced
 * (Vitest replaced its pool library once). A task is plain structured-clone data; a crash, a timeout or an
 * abort becomes a `ProbeError` result, never a dead run.
 */
import { ProbeError } from "../errors.js";

export interface ProbeTask {
  /** Which probe the worker runs (see probes/index.ts). */
  probe: string;
  /** Probe parameters and inputs (plain data; weights as Float32Array). */
  input: unknown;
}

export type ProbeOutcome<T> = { ok: true; value: T; ms: number } | { ok: false; error: ProbeError; ms: number };

export interface RunOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Buffers to move to the worker instead of copying. */
  transfer?: ArrayBuffer[];
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
  return new ProbeError(`probe '${probe}' failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
}
