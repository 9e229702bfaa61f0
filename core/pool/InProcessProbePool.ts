/**
 * ProbePool for models that live in another process (the PyTorch engine's eval process, a server): the
 * probe's own code is light, so it runs on this thread, awaiting the model's requests; the step loop keeps
 * running between them. Failures and timeouts come back as results, as from worker threads.
 */
import { toProbeError, type ProbeOutcome, type ProbePool, type ProbeTask, type RunOptions } from "./ProbePool.js";

export type TaskRunner = (task: ProbeTask) => Promise<unknown>;

export class InProcessProbePool implements ProbePool {
  private inflight = 0;
  private queue: Promise<unknown> = Promise.resolve();

  /** `runTask` runs one probe task against the pool's models; tasks run one at a time, in order. */
  constructor(
    private readonly runTask: TaskRunner,
    private readonly onClose: () => Promise<void> = async () => {},
  ) {}

  get pending(): number {
    return this.inflight;
  }

  run<T>(task: ProbeTask, options: RunOptions = {}): Promise<ProbeOutcome<T>> {
    this.inflight++;
    const t0 = performance.now();
    const work = this.queue.then(async (): Promise<ProbeOutcome<T>> => {
      try {
        const timeout = options.timeoutMs
          ? new Promise<never>((_, reject) => setTimeout(() => reject(Object.assign(new Error("timeout"), { name: "TimeoutError" })), options.timeoutMs).unref())
          : undefined;
        const value = (await (timeout ? Promise.race([this.runTask(task), timeout]) : this.runTask(task))) as T;
        return { ok: true, value, ms: performance.now() - t0 };
      } catch (cause) {
        return { ok: false, error: toProbeError(task.probe, cause), ms: performance.now() - t0 };
      } finally {
        this.inflight--;
      }
    });
    this.queue = work;
    return work;
  }

  close(): Promise<void> {
    return this.onClose();
  }
}
