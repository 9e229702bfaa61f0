/**
 * The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": { str: str } }` padded with spaces
 * to 8 bytes, then the raw little-endian tensor bytes. Files written here load with Python's
 * `safetensors.numpy.load_file`. The format is ~100 lines and no maintained JavaScript package for it
 * installs offline, so it is implemented here.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from "node:fs";
import { CheckpointError } from "../errors.js";

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export type StoredDtype = "F32" | "BF16" | "F16";

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

const BYTES: Record<StoredDtype, number> = { F32: 4, BF16: 2, F16: 2 };

function f32ToBf16(data: Float32Array): Uint16Array {
  const u32 = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const out = new Uint16Array(data.length);
  for (let i = 0; i < u32.length; i++) {
    const x = u32[i]!;
    // Round to nearest even on the dropped 16 bits; NaN stays NaN.
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

function bf16ToF32(src: Uint16Array): Float32Array {
  const u32 = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) u32[i] = src[i]! << 16;
  return new Float32Array(u32.buffer);
}

function f16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i]!;
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    out[i] = e === 0 ? s * Math.pow(2, -14) * (f / 1024) : e === 31 ? (f ? NaN : s * Infinity) : s * Math.pow(2, e - 15) * (1 + f / 1024);
  }
  return out;
}

/** The 8-byte length and the space-padded JSON header of tensors stored in `dtype`, in the given order. */
function headerOf(tensors: { name: string; shape: number[] }[], metadata: Record<string, string>, dtype: StoredDtype): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([head, Buffer.from(json, "utf8")]);
}

/** A tensor's values stored in `dtype`, after checking they fill its shape. */
function tensorBytes(name: string, shape: number[], data: Float32Array, dtype: StoredDtype): Buffer {
  if (dtype === "F16") throw new Error("writing F16 is not supported; use F32 or BF16");
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`tensor '${name}': shape [${shape}] needs ${n} values, got ${data.length}`);
  return dtype === "F32" ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(f32ToBf16(data).buffer);
}

/** Serialise tensors (in the given order) with string metadata. */
export function encodeSafetensors(tensors: Map<string, NamedTensor>, metadata: Record<string, string> = {}, dtype: StoredDtype = "F32"): Uint8Array {
  const chunks = [...tensors].map(([name, t]) => tensorBytes(name, t.shape, t.data, dtype));
  return Buffer.concat([headerOf([...tensors].map(([name, t]) => ({ name, shape: t.shape })), metadata, dtype), ...chunks]);
}

/** A tensor to write: its shape now, its values only when its turn comes. */
export interface LazyTensor {
  name: string;
  shape: number[];
  data: () => Float32Array;
}

/**
 * Write a safetensors file one tensor at a time (the same bytes as encodeSafetensors), so a model never
 * sits in memory whole, nor in one buffer (which stops at 2-4 GiB). The file is fsynced. Returns its size.
 */
export function writeSafetensorsFile(path: string, tensors: LazyTensor[], metadata: Record<string, string> = {}, dtype: StoredDtype = "F32"): number {
  if (dtype === "F16") throw new Error("writing F16 is not supported; use F32 or BF16");
  const fd = openSync(path, "w");
  try {
    let bytes = writeAll(fd, headerOf(tensors, metadata, dtype));
    for (const t of tensors) bytes += writeAll(fd, tensorBytes(t.name, t.shape, t.data(), dtype));
    fsyncSync(fd);
    return bytes;
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Buffer): number {
  for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
  return bytes.length;
}

export interface TensorEntry {
  name: string;
  dtype: StoredDtype;
  shape: number[];
  /** Byte range in the data section. */
  begin: number;
  end: number;
}

/**
 * Parse and check a safetensors header without touching the tensor data: every entry needs a known dtype,
 * a shape of non-negative integers and a byte range inside the file that fits the shape. `label` names the
 * file in errors.
 */
export function readSafetensorsHeader(bytes: Uint8Array, label: string, fileSize = bytes.length): { entries: TensorEntry[]; metadata: Record<string, string>; dataStart: number } {
  const bad = (why: string) => new CheckpointError(`${label}: not a valid safetensors file (${why})`);
  const buf = asBuffer(bytes);
  if (fileSize < 8 || buf.length < 8) throw bad("shorter than its 8-byte header length");
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen > fileSize - 8 || headerLen > 100_000_000) throw bad(`header length ${headerLen} exceeds the file size ${fileSize}`);
  if (8 + headerLen > buf.length) throw bad(`header of ${headerLen} bytes not read whole`);
  let header: unknown;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString("utf8"));
  } catch {
    throw bad("header is not JSON");
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) throw bad("header is not a JSON object");
  const dataStart = 8 + headerLen;
  const dataBytes = fileSize - dataStart;
  const entries: TensorEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (entry !== null && (typeof entry !== "object" || Array.isArray(entry))) throw bad("__metadata__ is not an object of strings");
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (!e || typeof e !== "object") throw bad(`tensor '${name}' has no entry object`);
    if (typeof e.dtype !== "string" || !Object.hasOwn(BYTES, e.dtype)) throw bad(`tensor '${name}' has unsupported dtype ${JSON.stringify(e.dtype)} (F32, BF16 and F16 are read)`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`tensor '${name}' has shape ${JSON.stringify(e.shape)}, not a list of non-negative integers`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isSafeInteger(x) && x >= 0) || off[1] < off[0]) throw bad(`tensor '${name}' has data_offsets ${JSON.stringify(off)}, not [begin, end]`);
    const width = BYTES[e.dtype as StoredDtype];
    const n = (e.shape as number[]).reduce((a, b) => a * b, 1);
    const [begin, end] = off as [number, number];
    if (end - begin !== n * width) throw bad(`tensor '${name}' data [${begin}, ${end}) holds ${end - begin} bytes, shape [${e.shape}] of ${e.dtype} needs ${n * width}`);
    if (end > dataBytes) throw bad(`tensor '${name}' ends at byte ${end} of a data section of ${dataBytes} bytes (truncated?)`);
    entries.push({ name, dtype: e.dtype as StoredDtype, shape: e.shape as number[], begin, end });
  }
  return { entries, metadata, dataStart };
}

/** Read just the header of a safetensors file (for checks without loading the tensors). */
export function readSafetensorsHeaderFile(path: string): { entries: TensorEntry[]; metadata: Record<string, string>; dataStart: number } {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(8);
    if (size < 8 || readSync(fd, head, 0, 8, 0) < 8) throw new CheckpointError(`${path}: not a valid safetensors file (shorter than its 8-byte header length)`);
    const headerLen = Number(head.readBigUInt64LE(0));
    if (headerLen > size - 8 || headerLen > 100_000_000) throw new CheckpointError(`${path}: not a valid safetensors file (header length ${headerLen} exceeds the file size ${size})`);
    const buf = Buffer.alloc(8 + headerLen);
    readSync(fd, buf, 0, 8 + headerLen, 0);
    return readSafetensorsHeader(buf, path, size);
  } finally {
    closeSync(fd);
  }
}

/** The float32 values of one tensor of a checked header. */
export function readTensor(bytes: Uint8Array, dataStart: number, e: TensorEntry): Float32Array {
  const buf = asBuffer(bytes);
  const n = e.shape.reduce((a, b) => a * b, 1);
  const copy = new Uint8Array(buf.subarray(dataStart + e.begin, dataStart + e.end)); // aligned copy
  if (e.dtype === "F32") return new Float32Array(copy.buffer, 0, n);
  if (e.dtype === "BF16") return bf16ToF32(new Uint16Array(copy.buffer, 0, n));
  return f16ToF32(new Uint16Array(copy.buffer, 0, n));
}

/** The float32 values of one tensor of a checked header, read from its byte range in the file (no whole-file read). */
export function readTensorFromFile(path: string, dataStart: number, e: TensorEntry): Float32Array {
  const buf = Buffer.alloc(e.end - e.begin);
  const fd = openSync(path, "r");
  try {
    for (let off = 0; off < buf.length; ) {
      const n = readSync(fd, buf, off, buf.length - off, dataStart + e.begin + off);
      if (n === 0) throw new CheckpointError(`${path}: tensor '${e.name}': the file ends inside its data (truncated?)`);
      off += n;
    }
  } finally {
    closeSync(fd);
  }
  return readTensor(buf, 0, { ...e, begin: 0, end: buf.length });
}

/** Parse a safetensors buffer; `label` names the file in errors. Values are returned as float32. */
export function decodeSafetensors(buf: Uint8Array, label: string): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const { entries, metadata, dataStart } = readSafetensorsHeader(buf, label);
  const tensors = new Map<string, NamedTensor>();
  for (const e of entries) tensors.set(e.name, { shape: e.shape, data: readTensor(buf, dataStart, e) });
  return { tensors, metadata };
}
