/**
 * Metrics for other tools: CSV (one row per step, nested maps flattened to `sourceLoss.brown`) and a
 * TensorBoard event file of scalars. The tfevents format is small and stable: TFRecord framing (length,
 * masked CRC-32C of the length, data, masked CRC-32C of the data) around Event protobufs
 * {wall_time: 1 double, step: 2 int64, file_version: 3 string | summary: 5 {value: 1 {tag: 1, simple_value: 2 float}}}.
 * No maintained Node writer exists, so it is written here (about 60 lines) and read back in the tests.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { RunRecord } from "./loadRun.js";

/** Flatten one metrics line: numbers at the top level and one level into maps. */
export function flatten(m: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) {
    if (typeof v === "number") out[k] = v;
    else if (typeof v === "boolean") out[k] = v ? 1 : 0;
    else if (v && typeof v === "object") for (const [k2, v2] of Object.entries(v)) if (typeof v2 === "number") out[`${k}.${k2}`] = v2;
  }
  return out;
}

export function metricsCsv(run: RunRecord): string {
  const rows = run.metrics.map((m) => flatten(m as unknown as Record<string, unknown>));
  const columns = ["step", ...[...new Set(rows.flatMap((r) => Object.keys(r)))].filter((c) => c !== "step").sort()];
  const cell = (v: number | undefined) => (v === undefined ? "" : String(v));
  return [columns.join(","), ...rows.map((r) => columns.map((c) => cell(r[c])).join(","))].join("\n") + "\n";
}

// ---------------------------------------------------------------- TensorBoard

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC32C_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function maskedCrc(buf: Uint8Array): number {
  const c = crc32c(buf);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

const field = (num: number, wire: number) => varint((num << 3) | wire);
const lengthDelimited = (num: number, bytes: Uint8Array | number[]) => [...field(num, 2), ...varint(bytes.length), ...bytes];

function doubleBytes(x: number): number[] {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return [...b];
}

function floatBytes(x: number): number[] {
  const b = Buffer.alloc(4);
  b.writeFloatLE(x);
  return [...b];
}

export function eventBytes(e: { wallTime: number; step: number; fileVersion?: string; scalars?: [string, number][] }): Uint8Array {
  const bytes: number[] = [...field(1, 1), ...doubleBytes(e.wallTime), ...field(2, 0), ...varint(e.step)];
  if (e.fileVersion) bytes.push(...lengthDelimited(3, Buffer.from(e.fileVersion)));
  if (e.scalars?.length) {
    const values = e.scalars.flatMap(([tag, v]) => lengthDelimited(1, [...lengthDelimited(1, Buffer.from(tag)), ...field(2, 5), ...floatBytes(v)]));
    bytes.push(...lengthDelimited(5, values));
  }
  return Uint8Array.from(bytes);
}

function record(data: Uint8Array): Buffer {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(data.length));
  const lenCrc = Buffer.alloc(4);
  lenCrc.writeUInt32LE(maskedCrc(len));
  const dataCrc = Buffer.alloc(4);
  dataCrc.writeUInt32LE(maskedCrc(data));
  return Buffer.concat([len, lenCrc, Buffer.from(data), dataCrc]);
}

/** Write RUN metrics as a TensorBoard event file in `dir`; returns its path. */
export function writeTensorboard(run: RunRecord, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const start = run.metrics.length ? Date.now() / 1000 : 0;
  const parts = [record(eventBytes({ wallTime: start, step: 0, fileVersion: "brain.Event:2" }))];
  for (const m of run.metrics) {
    const scalars = Object.entries(flatten(m as unknown as Record<string, unknown>)).filter(([k, v]) => k !== "step" && Number.isFinite(v)).map(([k, v]) => [k.replace(/\./g, "/"), v] as [string, number]);
    parts.push(record(eventBytes({ wallTime: start, step: m.step, scalars })));
  }
  const path = join(dir, `events.out.tfevents.${Math.floor(start)}.${hostname()}.mtx`);
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

/** Read scalars back from an event file (for tests and `mtx report --tensorboard` checks). */
export function readTensorboard(buf: Buffer): { step: number; tag: string; value: number }[] {
  const out: { step: number; tag: string; value: number }[] = [];
  let off = 0;
  while (off < buf.length) {
    const len = Number(buf.readBigUInt64LE(off));
    if (buf.readUInt32LE(off + 8) !== maskedCrc(buf.subarray(off, off + 8))) throw new Error(`bad length CRC at byte ${off}`);
    const data = buf.subarray(off + 12, off + 12 + len);
    if (buf.readUInt32LE(off + 12 + len) !== maskedCrc(data)) throw new Error(`bad data CRC at byte ${off}`);
    off += 16 + len;
    let step = 0;
    const readVarint = (b: Uint8Array, at: { p: number }) => {
      let v = 0n;
      let shift = 0n;
      for (;;) {
        const byte = b[at.p++]!;
        v |= BigInt(byte & 0x7f) << shift;
        if (!(byte & 0x80)) return v;
        shift += 7n;
      }
    };
    const at = { p: 0 };
    const tags: [string, number][] = [];
    while (at.p < data.length) {
      const key = Number(readVarint(data, at));
      const [num, wire] = [key >> 3, key & 7];
      if (wire === 1) at.p += 8;
      else if (wire === 0) {
        const v = readVarint(data, at);
        if (num === 2) step = Number(v);
      } else if (wire === 2) {
        const n = Number(readVarint(data, at));
        const body = data.subarray(at.p, at.p + n);
        at.p += n;
        if (num === 5) {
          const s = { p: 0 };
          while (s.p < body.length) {
            readVarint(body, s); // value field key
            const vn = Number(readVarint(body, s));
            const value = body.subarray(s.p, s.p + vn);
            s.p += vn;
            const q = { p: 0 };
            let tag = "";
            let x = NaN;
            while (q.p < value.length) {
              const k = Number(readVarint(value, q));
              if (k >> 3 === 1) {
                const tn = Number(readVarint(value, q));
                tag = Buffer.from(value.subarray(q.p, q.p + tn)).toString();
                q.p += tn;
              } else {
                x = Buffer.from(value.subarray(q.p, q.p + 4)).readFloatLE(0);
                q.p += 4;
              }
            }
            tags.push([tag, x]);
          }
        }
      }
    }
    for (const [tag, value] of tags) out.push({ step, tag, value });
  }
  return out;
}
