/**
 * The run directory, a stable layout that report, gate, compare and resume read:
 *   config.json      the effective config
 *   metrics.jsonl    one JSON object per step
 *   decisions.jsonl  one JSON object per verdict carried out
 *   summary.json     the outcome (written at the end, also on halt, interrupt and failure)
 *   checkpoints/step-<N>/
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

/**
 * If `path` holds an earlier run (a summary, metrics or checkpoints), rename it to `<path>.prev-<n>` (the
 * first free n) so a new run starts in an empty directory and the earlier one is kept whole. Returns the
 * new name, or undefined when there was nothing to move.
 */
export function setAsideEarlierRun(path: string): string | undefined {
  const dir = resolve(path);
  if (!["summary.json", "metrics.jsonl", "checkpoints"].some((f) => existsSync(join(dir, f)))) return undefined;
  let n = 1;
  while (existsSync(`${dir}.prev-${n}`)) n++;
  renameSync(dir, `${dir}.prev-${n}`);
  return `${dir}.prev-${n}`;
}

export class RunDir {
  readonly path: string;

  constructor(path: string) {
    this.path = resolve(path);
    mkdirSync(this.path, { recursive: true });
  }

  get checkpoints(): string {
    return join(this.path, "checkpoints");
  }

  file(name: string): string {
    return join(this.path, name);
  }

  /** Write a JSON file atomically (temp file + rename). */
  writeJson(name: string, value: unknown): void {
    const target = this.file(name);
    const tmp = `${target}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
    renameSync(tmp, target);
  }

  append(name: "metrics.jsonl" | "decisions.jsonl", record: unknown): void {
    appendFileSync(this.file(name), JSON.stringify(record) + "\n");
  }

  /**
   * On resume or rollback to `step`: drop log lines of steps after it (they will be run again), so
   * metrics.jsonl reads as one continuous curve. Decisions are history and are kept.
   */
  truncateMetricsAfter(step: number): void {
    const path = this.file("metrics.jsonl");
    if (!existsSync(path)) return;
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
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, kept.length ? kept.join("\n") + "\n" : "");
    renameSync(tmp, path);
  }

  readJsonl<T>(name: string): T[] {
    const path = this.file(name);
    if (!existsSync(path)) return [];
    return readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as T);
  }
}
