/**
 * User sources: plain text files, directories of them, and JSONL files with a configurable text field.
 * Bad input never passes silently: a missing path or an empty source is an error; a malformed JSONL line,
 * a line without the text field, or invalid UTF-8 is counted and reported with its file and line, and
 * `strict` makes the first such problem fatal.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { DataError } from "../../errors.js";
import type { Document } from "../documents.js";

export interface UserSourceSpec {
  /** Source label. */
  name: string;
  type: "text" | "jsonl";
  /** A file or a directory (read recursively, files sorted by path). */
  path: string;
  /** jsonl: the field holding the text (default "text"); dotted paths reach nested fields. */
  textField?: string;
  /** jsonl: a field holding a stable document id (default: file and line). */
  idField?: string;
  /** text: file name endings to read from a directory (default .txt, .md). */
  extensions?: string[];
}

export interface SourceIssue {
  file: string;
  line?: number;
  message: string;
}

export interface LoadedSource {
  documents: Document[];
  issues: SourceIssue[];
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function filesUnder(path: string, exts: string[] | undefined): string[] {
  if (statSync(path).isFile()) return [path];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (!exts || exts.some((e) => name.endsWith(e))) out.push(p);
    }
  };
  walk(path);
  return out;
}

/** Byte offset where the first invalid UTF-8 sequence starts, or -1 (fast path: one fatal decode). */
export function invalidUtf8At(buf: Uint8Array): number {
  try {
    utf8.decode(buf);
    return -1;
  } catch {
    // Walk the bytes to find where it goes wrong (RFC 3629: no overlongs, no surrogates, max U+10FFFF).
    let i = 0;
    while (i < buf.length) {
      const b = buf[i]!;
      const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
      if (need < 0 || i + need >= buf.length + (need === 0 ? 1 : 0)) return i;
      for (let k = 1; k <= need; k++) if ((buf[i + k]! & 0xc0) !== 0x80) return i;
      if (need > 0) {
        const second = buf[i + 1]!;
        if ((b === 0xe0 && second < 0xa0) || (b === 0xed && second > 0x9f) || (b === 0xf0 && second < 0x90) || (b === 0xf4 && second > 0x8f)) return i;
      }
      i += need + 1;
    }
    return -1;
  }
}

function field(obj: unknown, path: string): unknown {
  return path.split(".").reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), obj);
}

export function loadUserSource(spec: UserSourceSpec, opts: { strict?: boolean; cwd?: string } = {}): LoadedSource {
  const root = resolve(opts.cwd ?? process.cwd(), spec.path);
  if (!existsSync(root)) throw new DataError(`source '${spec.name}': path '${spec.path}' does not exist (resolved to ${root})`);
  const issues: SourceIssue[] = [];
  const report = (issue: SourceIssue) => {
    if (opts.strict) throw new DataError(`source '${spec.name}': ${issue.file}${issue.line ? `:${issue.line}` : ""}: ${issue.message} (--strict makes this fatal; without it the bad input is skipped and counted)`);
    issues.push(issue);
  };
  const exts = spec.type === "text" ? (spec.extensions ?? [".txt", ".md"]) : [".jsonl", ".json"];
  const files = filesUnder(root, statSync(root).isFile() ? undefined : exts);
  const documents: Document[] = [];
  for (const file of files) {
    const rel = file.startsWith(process.cwd() + "/") ? relative(process.cwd(), file) : file;
    const buf = readFileSync(file);
    if (spec.type === "text") {
      const bad = invalidUtf8At(buf);
      if (bad >= 0) {
        const line = buf.subarray(0, bad).toString("latin1").split("\n").length;
        report({ file: rel, line, message: `invalid UTF-8 at byte ${bad}; the file was skipped` });
        continue;
      }
      const text = buf.toString("utf8").trim();
      if (text) documents.push({ id: `${spec.name}/${relative(root, file) || file.split("/").pop()}`, source: spec.name, text });
      continue;
    }
    // JSONL: one JSON object per line.
    const textField = spec.textField ?? "text";
    let start = 0;
    let lineNo = 0;
    while (start <= buf.length) {
      let end = buf.indexOf(0x0a, start);
      if (end < 0) end = buf.length;
      lineNo++;
      const raw = buf.subarray(start, end);
      start = end + 1;
      if (raw.length === 0 || (raw.length === 1 && raw[0] === 0x0d)) continue;
      if (invalidUtf8At(raw) >= 0) {
        report({ file: rel, line: lineNo, message: "invalid UTF-8" });
        continue;
      }
      let obj: unknown;
      try {
        obj = JSON.parse(raw.toString("utf8"));
      } catch (e) {
        report({ file: rel, line: lineNo, message: `not valid JSON (${(e as Error).message})` });
        continue;
      }
      const text = field(obj, textField);
      if (typeof text !== "string") {
        report({ file: rel, line: lineNo, message: `no string field '${textField}'` });
        continue;
      }
      if (!text.trim()) continue;
      const id = spec.idField ? field(obj, spec.idField) : undefined;
      documents.push({ id: `${spec.name}/${id !== undefined ? String(id) : `${relative(root, file) || file.split("/").pop()}:${lineNo}`}`, source: spec.name, text });
      if (start >= buf.length) break;
    }
  }
  if (documents.length === 0) {
    const why = files.length === 0 ? `no ${exts.join("/")} files under it` : issues.length ? `every record was bad (${issues.length} problems, first: ${issues[0]!.file}${issues[0]!.line ? `:${issues[0]!.line}` : ""}: ${issues[0]!.message})` : "all its documents are empty";
    throw new DataError(`source '${spec.name}' at '${spec.path}' has no documents: ${why}`);
  }
  return { documents, issues };
}
