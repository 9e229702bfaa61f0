/**
 * The run directory, a stable layout that report, gate, compare and resume read (the records' types are in
 * records.ts):
 *   config.json      the effective config
 *   metrics.jsonl    one JSON object per step
 *   decisions.jsonl  one JSON object per verdict carried out
 *   probes.jsonl     in-training probe measurements
 *   summary.json     the outcome (written at the end, also on halt, interrupt and failure)
 *   checkpoints/step-<N>/
 *   tb/              TensorBoard event files, one per process, mirroring the records as they are written
 *   .mtx.lock        held by the one process writing the run (lock.ts)
 */
import { existsSync, readFileSync, renameSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { appendLine, ensureWritableDir, rethrowStorage, writeFileAtomic } from "../io/files.js";
import { LOCK_FILE, RunLock } from "./lock.js";
import { recordEvent, TensorboardWriter, type TbEvent } from "./tensorboard.js";

/** Whether `dir` holds (part of) a run: a summary, metrics or checkpoints. */
export function holdsRun(dir: string): boolean {
  return ["summary.json", "metrics.jsonl", "checkpoints"].some((f) => existsSync(join(dir, f)));
}

export type JsonlRecordFile = "metrics.jsonl" | "decisions.jsonl" | "probes.jsonl";

export class RunDir {
  private tb: TensorboardWriter | undefined;
  private tbFailed = false;

  private constructor(
    readonly path: string,
    private lock: RunLock | undefined,
  ) {}

  /** Mirror the records to TensorBoard from now on (RUN/tb/): the live view of the run. */
  streamToTensorboard(): void {
    this.tb ??= new TensorboardWriter(join(this.path, "tb"));
  }

  /** TensorBoard is a view: a failure to write it (a full disk shows first in the records) never stops the run. */
  private mirror(event: TbEvent | undefined): void {
    if (!this.tb || !event || this.tbFailed) return;
    try {
      this.tb.write(event);
    } catch (error) {
      this.tbFailed = true;
      process.stderr.write(`warning: TensorBoard events stopped (${(error as Error).message}); the run's records are unaffected\n`);
    }
  }

  /**
   * Open `out` as the one writer of its run: create it, take its lock (exit 2 naming the holder when another
   * process writes there), and, for a new run (not `resume`) into a directory that holds an earlier run,
   * rename that run to `<out>.prev-<n>` (the first free n) so it stays whole. `onMoved` hears the new name.
   */
  static openForWriting(out: string, opts: { resume: boolean; onMoved?: (to: string) => void }): RunDir {
    const dir = ensureWritableDir(out, "--out");
    let lock = RunLock.acquire(dir);
    if (!opts.resume && holdsRun(dir)) {
      let n = 1;
      while (existsSync(`${dir}.prev-${n}`)) n++;
      const moved = `${dir}.prev-${n}`;
      try {
        renameSync(dir, moved);
      } catch (error) {
        lock.release();
        rethrowStorage(error, dir, "move the earlier run aside from");
      }
      // Our lock moved with the directory: drop it there and lock the fresh one.
      try {
        unlinkSync(join(moved, LOCK_FILE));
      } catch {
        // Nothing to remove.
      }
      lock.release();
      opts.onMoved?.(moved);
      ensureWritableDir(dir, "--out");
      lock = RunLock.acquire(dir);
    }
    return new RunDir(dir, lock);
  }

  /** A run directory to read (no lock). */
  static openForReading(dir: string): RunDir {
    return new RunDir(dir, undefined);
  }

  get checkpoints(): string {
    return join(this.path, "checkpoints");
  }

  file(name: string): string {
    return join(this.path, name);
  }

  /** Write a JSON file atomically (temp file + rename). */
  writeJson(name: string, value: unknown): void {
    writeFileAtomic(this.file(name), JSON.stringify(value, null, 2) + "\n");
    if (name === "config.json") this.mirror({ wallTime: Date.now() / 1000, step: 0, texts: [["config", "```json\n" + JSON.stringify(value, null, 2) + "\n```"]] });
  }

  append(name: JsonlRecordFile, record: unknown): void {
    appendLine(this.file(name), JSON.stringify(record));
    this.mirror(recordEvent(name.replace(".jsonl", "") as "metrics" | "probes" | "decisions", record as Record<string, unknown>));
  }

  /**
   * On resume or rollback to `step`: drop log lines of steps after it (they will be run again), so
   * metrics.jsonl and probes.jsonl read as one continuous curve. Decisions are history and are kept.
   */
  truncateAfter(step: number, names: JsonlRecordFile[] = ["metrics.jsonl", "probes.jsonl"]): void {
    for (const name of names) {
      const path = this.file(name);
      if (!existsSync(path)) continue;
      const kept = readFileSync(path, "utf8")
        .split("\n")
        .filter((line) => {
          if (!line.trim()) return false;
          try {
            return (JSON.parse(line) as { step: number }).step <= step;
          } catch {
            return false; // a line cut by a crash mid-write
          }
        });
      writeFileAtomic(path, kept.length ? kept.join("\n") + "\n" : "");
    }
  }

  readJsonl<T>(name: string): T[] {
    const path = this.file(name);
    if (!existsSync(path)) return [];
    return readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as T);
  }

  /** Release the lock (idempotent). */
  close(): void {
    this.lock?.release();
    this.lock = undefined;
  }
}
