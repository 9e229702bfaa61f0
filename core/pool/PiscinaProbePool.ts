/**
 * ProbePool on piscina worker threads. Each worker has its own TensorFlow.js engine and builds the model a
 * task names; the native kernels (shared by the process) leave a core to each running task.
 */
import { Piscina } from "piscina";
import type { BackendChoice } from "../backend.js";
import { reserveCores } from "../native/kernels.js";
import { toProbeError, transferList, type ProbeOutcome, type ProbePool, type ProbeTask, type RunOptions } from "./ProbePool.js";

export class PiscinaProbePool implements ProbePool {
  private readonly piscina: Piscina;
  private inflight = 0;
  private readonly backend: BackendChoice;

  /** `filename`: a worker module that default-exports `async (task: ProbeTask & { backend }) => result`. */
  constructor(filename: string, options: { threads?: number; backend?: BackendChoice } = {}) {
    const threads = Math.max(1, options.threads ?? 1);
    this.backend = options.backend ?? "wasm";
    this.piscina = new Piscina({ filename, minThreads: 0, maxThreads: threads, idleTimeout: 30_000 });
  }

  get pending(): number {
    return this.inflight;
  }

  async run<T>(task: ProbeTask, options: RunOptions = {}): Promise<ProbeOutcome<T>> {
    const t0 = performance.now();
    const signals = [options.signal, options.timeoutMs ? AbortSignal.timeout(options.timeoutMs) : undefined].filter((s): s is AbortSignal => !!s);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    this.inflight++;
    // A running probe task is a compute thread: the native kernels leave it a core.
    const release = reserveCores(1);
    try {
      const value = (await this.piscina.run({ ...task, backend: this.backend }, { signal, transferList: transferList(task) })) as T;
      return { ok: true, value, ms: performance.now() - t0 };
    } catch (cause) {
      const reason = signal?.aborted ? signal.reason : cause;
      return { ok: false, error: toProbeError(task.probe, reason), ms: performance.now() - t0 };
    } finally {
      release();
      this.inflight--;
    }
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}
