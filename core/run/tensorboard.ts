/**
 * TensorBoard event files, written while a run trains (RUN/tb/) and by `mtx report --tensorboard`. The
 * tfevents format is small and stable: TFRecord framing (length, masked CRC-32C of the length, data, masked
 * CRC-32C of the data) around Event protobufs
 *   Event {wall_time: 1 double, step: 2 int64, file_version: 3 string, summary: 5 Summary}
 *   Summary {value: 1 Value}
 *   Value {tag: 1 string, simple_value: 2 float, tensor: 8 TensorProto, metadata: 9 SummaryMetadata}
 * Text (the decisions, the config) is the text plugin's form: a DT_STRING tensor with plugin_name "text".
 * No maintained Node writer exists (tfjs-node's needs libtensorflow), so it is written here and checked in
 * the tests with TensorBoard's own reader.
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

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

const DT_STRING = 7;
const TEXT_METADATA = lengthDelimited(9, lengthDelimited(1, lengthDelimited(1, Buffer.from("text"))));

export interface TbEvent {
  /** Seconds since the epoch. */
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars?: [string, number][];
  texts?: [string, string][];
}

export function eventBytes(e: TbEvent): Uint8Array {
  const bytes: number[] = [...field(1, 1), ...doubleBytes(e.wallTime), ...field(2, 0), ...varint(Math.max(0, Math.round(e.step)))];
  if (e.fileVersion) bytes.push(...lengthDelimited(3, Buffer.from(e.fileVersion)));
  const values = [
    ...(e.scalars ?? []).flatMap(([tag, v]) => lengthDelimited(1, [...lengthDelimited(1, Buffer.from(tag)), ...field(2, 5), ...floatBytes(v)])),
    ...(e.texts ?? []).flatMap(([tag, text]) => {
      const tensor = [...field(1, 0), ...varint(DT_STRING), ...lengthDelimited(2, []), ...lengthDelimited(8, Buffer.from(text))];
      return lengthDelimited(1, [...lengthDelimited(1, Buffer.from(tag)), ...lengthDelimited(8, tensor), ...TEXT_METADATA]);
    }),
  ];
  if (values.length) bytes.push(...lengthDelimited(5, values));
  return Uint8Array.from(bytes);
}

/** One TFRecord: length, its masked CRC, the data, its masked CRC. */
export function tfRecord(data: Uint8Array): Buffer {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(data.length));
  const lenCrc = Buffer.alloc(4);
  lenCrc.writeUInt32LE(maskedCrc(len));
  const dataCrc = Buffer.alloc(4);
  dataCrc.writeUInt32LE(maskedCrc(data));
  return Buffer.concat([len, lenCrc, Buffer.from(data), dataCrc]);
}

/** A decision as one line of text: "step 120 spike rollback: reason (outcome)". */
export function decisionLine(d: { step: number; plugin: string; action: string; reason: string; outcome?: string }): string {
  return `step ${d.step} ${d.plugin} ${d.action}: ${d.reason}${d.outcome ? ` (${d.outcome})` : ""}`;
}

/** A metrics record's numbers as scalar tags: nested maps one level deep (`sourceLoss/brown`), booleans as 0/1. */
export function scalarTags(m: Record<string, unknown>, skip: ReadonlySet<string> = new Set(["step"])): [string, number][] {
  const out: [string, number][] = [];
  for (const [k, v] of Object.entries(m)) {
    if (skip.has(k)) continue;
    if (typeof v === "number" && Number.isFinite(v)) out.push([k.replace(/\./g, "/"), v]);
    else if (typeof v === "boolean") out.push([k, v ? 1 : 0]);
    else if (v && typeof v === "object" && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v)) if (typeof v2 === "number" && Number.isFinite(v2)) out.push([`${k}/${k2}`.replace(/\./g, "/"), v2]);
    }
  }
  return out;
}

/** Record fields that are bookkeeping, not measurements. */
const NOT_SCALARS = new Set(["step", "time", "late", "arrivedAtStep", "arrivedAt"]);

/**
 * The TensorBoard event of one run record: a metrics line (a late result at the step it measured, stamped
 * with the time it was logged) or a probe measurement as scalars, a decision as text.
 */
export function recordEvent(kind: "metrics" | "probes" | "decisions", record: Record<string, unknown>, now = Date.now() / 1000): TbEvent | undefined {
  const step = Number(record.step);
  if (!Number.isFinite(step)) return undefined;
  switch (kind) {
    case "metrics":
      return { wallTime: typeof record.time === "number" ? record.time / 1000 : now, step, scalars: scalarTags(record, NOT_SCALARS) };
    case "probes": {
      const id = String(record.plugin && record.plugin !== "probes" ? `${record.plugin}/${record.probe}` : record.probe);
      return { wallTime: now, step, scalars: scalarTags((record.metrics ?? {}) as Record<string, unknown>).map(([k, v]) => [`probe/${id}/${k}`, v]) };
    }
    case "decisions":
      return { wallTime: typeof record.time === "string" ? Date.parse(record.time) / 1000 || now : now, step, texts: [["decisions", decisionLine(record as never)]] };
  }
}

/**
 * An event file that grows as the run trains: every event is appended (and so on disk) when written, so
 * `tensorboard --logdir` shows the run live. One file per process, named as TensorBoard's writers name them.
 */
export class TensorboardWriter {
  readonly path: string;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    const now = Date.now() / 1000;
    this.path = join(dir, `events.out.tfevents.${Math.floor(now)}.${hostname()}.${process.pid}.mtx`);
    appendFileSync(this.path, tfRecord(eventBytes({ wallTime: now, step: 0, fileVersion: "brain.Event:2" })));
  }

  write(e: TbEvent): void {
    appendFileSync(this.path, tfRecord(eventBytes(e)));
  }
}

/** Read the events of a file back (scalars and text), for tests and checks. */
export function readTensorboard(buf: Buffer): { step: number; wallTime: number; tag: string; value?: number; text?: string }[] {
  const out: { step: number; wallTime: number; tag: string; value?: number; text?: string }[] = [];
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
  /** The fields of one message: number -> raw values (varints as bigint, fixed as bytes, length-delimited as bytes). */
  const fields = (b: Uint8Array) => {
    const f: [number, number, bigint | Uint8Array][] = [];
    const at = { p: 0 };
    while (at.p < b.length) {
      const key = Number(readVarint(b, at));
      const [num, wire] = [key >> 3, key & 7];
      if (wire === 0) f.push([num, wire, readVarint(b, at)]);
      else if (wire === 1 || wire === 5) {
        const n = wire === 1 ? 8 : 4;
        f.push([num, wire, b.subarray(at.p, at.p + n)]);
        at.p += n;
      } else if (wire === 2) {
        const n = Number(readVarint(b, at));
        f.push([num, wire, b.subarray(at.p, at.p + n)]);
        at.p += n;
      } else throw new Error(`unsupported wire type ${wire}`);
    }
    return f;
  };
  let off = 0;
  while (off < buf.length) {
    const len = Number(buf.readBigUInt64LE(off));
    if (buf.readUInt32LE(off + 8) !== maskedCrc(buf.subarray(off, off + 8))) throw new Error(`bad length CRC at byte ${off}`);
    const data = buf.subarray(off + 12, off + 12 + len);
    if (buf.readUInt32LE(off + 12 + len) !== maskedCrc(data)) throw new Error(`bad data CRC at byte ${off}`);
    off += 16 + len;
    const ev = fields(data);
    const step = Number((ev.find(([n]) => n === 2)?.[2] as bigint | undefined) ?? 0n);
    const wt = ev.find(([n]) => n === 1)?.[2] as Uint8Array | undefined;
    const wallTime = wt ? Buffer.from(wt).readDoubleLE(0) : 0;
    for (const [num, , summary] of ev) {
      if (num !== 5) continue;
      for (const [vn, , value] of fields(summary as Uint8Array)) {
        if (vn !== 1) continue;
        const vf = fields(value as Uint8Array);
        const tag = Buffer.from(vf.find(([n]) => n === 1)![2] as Uint8Array).toString();
        const simple = vf.find(([n]) => n === 2)?.[2] as Uint8Array | undefined;
        const tensor = vf.find(([n]) => n === 8)?.[2] as Uint8Array | undefined;
        if (simple) out.push({ step, wallTime, tag, value: Buffer.from(simple).readFloatLE(0) });
        else if (tensor) {
          const s = fields(tensor).find(([n]) => n === 8)?.[2] as Uint8Array | undefined;
          out.push({ step, wallTime, tag, text: s ? Buffer.from(s).toString() : "" });
        }
      }
    }
  }
  return out;
}
