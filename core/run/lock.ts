/**
 * An exclusive lock on a run directory, so two writers never share one: `RUN/.mtx.lock` holds the pid, host
 * and start time of the process that writes the run. It is created atomically (O_EXCL), removed when the run
 * ends (also on process exit), and a lock left by a process that died (same host, pid gone) is detected
 * and taken over. Readers (`mtx report`, probes) never take it.
 *
 * Written here rather than with proper-lockfile: that library marks staleness by a timer refreshing the
 * lock's mtime, which a long synchronous training step would starve, and it cannot name the holder.
 */
import { closeSync, existsSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../errors.js";
import { rethrowStorage } from "../io/files.js";

export const LOCK_FILE = ".mtx.lock";

export interface LockHolder {
  pid: number;
  host: string;
  /** When the lock was taken (ISO time). */
  started: string;
  /** The command line of the holder, for the message a second writer gets. */
  command: string;
}

/** The holder of `dir`'s lock, if the lock file exists and is readable. */
export function readLock(dir: string): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")) as LockHolder;
  } catch {
    return undefined;
  }
}

/** Whether process `pid` on this host is alive. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function describeHolder(h: LockHolder): string {
  return `pid ${h.pid} on ${h.host} (since ${h.started}: ${h.command})`;
}

export class RunLock {
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(
    readonly dir: string,
    readonly holder: LockHolder,
  ) {
    process.once("exit", this.onExit);
  }

  /**
   * Take `dir`'s lock or throw a ConfigError (exit 2) naming the process that holds it. A lock of a dead
   * process on this host is replaced; one from another host cannot be checked and is refused with the
   * command to remove it.
   */
  static acquire(dir: string): RunLock {
    const path = join(dir, LOCK_FILE);
    const me: LockHolder = { pid: process.pid, host: hostname(), started: new Date().toISOString(), command: process.argv.slice(1).join(" ") || "node" };
    for (let attempt = 0; attempt < 3; attempt++) {
      let fd: number | undefined;
      try {
        fd = openSync(path, "wx");
        writeSync(fd, JSON.stringify(me) + "\n");
        return new RunLock(dir, me);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") rethrowStorage(error, path, "create the run lock");
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
      const holder = readLock(dir);
      if (!holder) {
        // Unreadable: a writer between open and write, or a crash right there. Wait for it to settle.
        const age = Date.now() - statSafe(path);
        if (age < 5_000) throw new ConfigError(`run directory ${dir} is being locked by another process right now (${path}); try again in a moment`);
      } else if (holder.host !== hostname()) {
        throw new ConfigError(`run directory ${dir} is in use by ${describeHolder(holder)}; if that run is no longer going, remove ${path}`);
      } else if (alive(holder.pid)) {
        throw new ConfigError(`run directory ${dir} is in use by ${describeHolder(holder)}: wait for it to finish, stop it, or give this run another --out`);
      }
      takeOverStale(path, holder);
    }
    throw new ConfigError(`could not take the lock ${path}: other processes keep taking it; give this run another --out`);
  }

  /** Remove the lock (once); the exit handler does the same if the process ends first. */
  release(): void {
    if (this.released) return;
    this.released = true;
    process.removeListener("exit", this.onExit);
    const current = readLock(this.dir);
    if (current && current.pid === this.holder.pid && current.started === this.holder.started) {
      try {
        unlinkSync(join(this.dir, LOCK_FILE));
      } catch {
        // Already gone (the directory was moved or removed).
      }
    }
  }
}

function statSafe(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Move a stale lock out of the way. Two processes may find the same stale lock at once: each renames it to
 * a name of its own, and one whose renamed file turns out not to be the stale lock it read (the other
 * process already replaced it) puts it back.
 */
function takeOverStale(path: string, stale: LockHolder | undefined): void {
  const aside = `${path}.stale-${process.pid}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // someone else moved it first; try again
  }
  const moved = (() => {
    try {
      return JSON.parse(readFileSync(aside, "utf8")) as LockHolder;
    } catch {
      return undefined;
    }
  })();
  if (stale && moved && (moved.pid !== stale.pid || moved.started !== stale.started) && !existsSync(path)) {
    renameSync(aside, path);
    return;
  }
  try {
    unlinkSync(aside);
  } catch {
    // Leave it; it is named as stale.
  }
}
