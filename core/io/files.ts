/**
 * File writes that never leave a half-written file behind: every file mtx writes goes to a temporary
 * sibling first and is renamed into place (atomic on POSIX), and a failed write removes its temporary.
 * File-system refusals (disk full, no permission, read-only) become a StorageError naming the path.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { dirname, resolve, sep } from "node:path";
import { ConfigError, storageError } from "../errors.js";

/** Rethrow `error` as a StorageError naming `path` when it is a file-system refusal. */
export function rethrowStorage(error: unknown, path: string, doing: string): never {
  throw storageError(error, path, doing) ?? error;
}

/** Remove a file or directory, ignoring every error (used to clean up temporaries after a failure). */
export function removeQuietly(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    // Nothing more can be done; the temporary's name marks it as one.
  }
}

/** Write `data` to `path` and fsync it, so the bytes are on disk before a rename publishes them. */
export function writeDurable(path: string, data: Uint8Array | string): void {
  const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  let fd: number | undefined;
  try {
    fd = openSync(path, "w");
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (error) {
    rethrowStorage(error, path, "write");
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** fsync a directory so a rename inside it survives a crash (some file systems refuse; the rename is still atomic). */
export function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    fsyncSync(fd);
    closeSync(fd);
  } catch {
    // Not supported here.
  }
}

/**
 * Write a file atomically: a temporary sibling (`.<name>.tmp-<pid>`), fsynced when `durable`, renamed over
 * `path`. On failure the temporary is removed and `path` keeps its previous content.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string, opts: { durable?: boolean } = {}): void {
  const target = resolve(path);
  const tmp = `${target}.tmp-${process.pid}`;
  try {
    if (opts.durable) writeDurable(tmp, data);
    else {
      const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
      const fd = openSync(tmp, "w");
      try {
        let off = 0;
        while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      } finally {
        closeSync(fd);
      }
    }
    renameSync(tmp, target);
  } catch (error) {
    removeQuietly(tmp);
    rethrowStorage(error, target, "write");
  }
}

/** Append one line; a refusal names the file. */
export function appendLine(path: string, line: string): void {
  try {
    appendFileSync(path, line.endsWith("\n") ? line : line + "\n");
  } catch (error) {
    rethrowStorage(error, path, "append to");
  }
}

/** Places that are not ordinary directories: writing runs there hangs or fails in odd ways. */
const PSEUDO_ROOTS = ["/proc", "/sys", "/dev"];

/**
 * Create `dir` (and its parents) as a directory mtx may write to. Refuses, with a message that says what to
 * do, a path that is an existing file, one under /proc, /sys or /dev, and any path the file system refuses.
 */
export function ensureWritableDir(dir: string, what: string): string {
  const abs = resolve(dir);
  const pseudo = PSEUDO_ROOTS.find((r) => abs === r || abs.startsWith(r + sep));
  if (pseudo) throw new ConfigError(`${what} '${dir}' is under ${pseudo}, a virtual file system, not a place for files: choose a directory on a disk`);
  if (existsSync(abs) && !statSync(abs).isDirectory()) throw new ConfigError(`${what} '${dir}' is a file, not a directory: choose another path or remove the file`);
  // Any existing ancestor that is a file makes mkdir fail with ENOTDIR; say which one.
  for (let up = dirname(abs); up !== dirname(up); up = dirname(up)) {
    if (existsSync(up)) {
      if (!statSync(up).isDirectory()) throw new ConfigError(`${what} '${dir}': '${up}' is a file, not a directory`);
      break;
    }
  }
  try {
    mkdirSync(abs, { recursive: true });
  } catch (error) {
    rethrowStorage(error, abs, "create the directory");
  }
  return abs;
}
