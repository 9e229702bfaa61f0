/**
 * A GGUF writer (version 3, the format llama.cpp loads): a header, typed key/value metadata, tensor
 * descriptors, then the tensors' bytes, each aligned to 32 bytes. Tensors are F32, F16 or Q8_0 (blocks of
 * 32 values: an F16 scale max|x|/127 and 32 int8s, as ggml's quantize_row_q8_0_ref). Dimensions are listed
 * innermost first: a row-major [rows, cols] matrix is [cols, rows] in GGUF.
 * The npm packages for GGUF (@huggingface/gguf, hyllama) read it but do not write tensors, so this is here.
 */
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";

export type GgufTensorType = "F32" | "F16" | "Q8_0";

const GGML_TYPE: Record<GgufTensorType, number> = { F32: 0, F16: 1, Q8_0: 8 };
const ALIGNMENT = 32;

/** A metadata value with its GGUF type. */
export type GgufValue =
  | { type: "u32"; value: number }
  | { type: "i32"; value: number }
  | { type: "f32"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "string[]"; value: string[] }
  | { type: "i32[]"; value: number[] };

export interface GgufTensor {
  name: string;
  /** Row-major shape, outermost first (as safetensors and torch spell it). */
  shape: number[];
  /** The values, or a function that reads them when the tensor's turn comes (one tensor in memory at a time). */
  data: Float32Array | (() => Float32Array);
  type: GgufTensorType;
}

const VALUE_TYPE = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9 } as const;

/** Bytes appended in order, grown as needed. */
class Writer {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u32(v: number): void {
    this.room(4);
    this.length = this.buf.writeUInt32LE(v, this.length);
  }
  i32(v: number): void {
    this.room(4);
    this.length = this.buf.writeInt32LE(v, this.length);
  }
  u64(v: number): void {
    this.room(8);
    this.length = this.buf.writeBigUInt64LE(BigInt(v), this.length);
  }
  f32(v: number): void {
    this.room(4);
    this.length = this.buf.writeFloatLE(v, this.length);
  }
  u8(v: number): void {
    this.room(1);
    this.length = this.buf.writeUInt8(v, this.length);
  }
  string(s: string): void {
    const bytes = Buffer.from(s, "utf8");
    this.u64(bytes.length);
    this.room(bytes.length);
    bytes.copy(this.buf, this.length);
    this.length += bytes.length;
  }
  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.room(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function writeValue(w: Writer, v: GgufValue): void {
  switch (v.type) {
    case "u32":
      w.u32(VALUE_TYPE.u32);
      return w.u32(v.value);
    case "i32":
      w.u32(VALUE_TYPE.i32);
      return w.i32(v.value);
    case "f32":
      w.u32(VALUE_TYPE.f32);
      return w.f32(v.value);
    case "bool":
      w.u32(VALUE_TYPE.bool);
      return w.u8(v.value ? 1 : 0);
    case "string":
      w.u32(VALUE_TYPE.string);
      return w.string(v.value);
    case "string[]":
      w.u32(VALUE_TYPE.array);
      w.u32(VALUE_TYPE.string);
      w.u64(v.value.length);
      for (const s of v.value) w.string(s);
      return;
    case "i32[]":
      w.u32(VALUE_TYPE.array);
      w.u32(VALUE_TYPE.i32);
      w.u64(v.value.length);
      for (const x of v.value) w.i32(x);
      return;
  }
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** IEEE half precision of a float, rounded to nearest even (overflow to infinity). */
export function toHalf(x: number): number {
  scratch[0] = x;
  const u = scratchBits[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

const valueCount = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The stored size of a tensor of `shape` in `type`; Q8_0 rows must be whole blocks of 32. */
function encodedSize(shape: number[], type: GgufTensorType, name: string): number {
  const count = valueCount(shape);
  if (type === "F32") return count * 4;
  if (type === "F16") return count * 2;
  if (shape.at(-1)! % 32 !== 0) throw new Error(`tensor '${name}': Q8_0 needs rows of a multiple of 32 values (got ${shape.at(-1)})`);
  return (count / 32) * 34;
}

/** The stored bytes of a tensor in `type`. */
export function encodeTensor(data: Float32Array, type: GgufTensorType, rowLength: number): Buffer {
  if (type === "F32") return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (type === "F16") {
    // Little-endian hosts only (as Node's supported platforms are): the halves are written in host order.
    const out = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = toHalf(data[i]!);
    return Buffer.from(out.buffer);
  }
  if (rowLength % 32 !== 0) throw new Error(`Q8_0 needs rows of a multiple of 32 values (got ${rowLength})`);
  const blocks = data.length / 32;
  const out = Buffer.alloc(blocks * 34);
  const q = new Int8Array(out.buffer, out.byteOffset, out.length);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(data[b * 32 + i]!));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    out.writeUInt16LE(toHalf(d), b * 34);
    for (let i = 0; i < 32; i++) q[b * 34 + 2 + i] = Math.round(data[b * 32 + i]! * id);
  }
  return out;
}

function writeAll(fd: number, bytes: Buffer): number {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
  return bytes.length;
}

/** Write a GGUF file: metadata in the given order, then the tensors. The file is fsynced. */
export function writeGguf(path: string, metadata: [string, GgufValue][], tensors: GgufTensor[]): { bytes: number } {
  const head = new Writer();
  head.u32(0x46554747); // "GGUF"
  head.u32(3);
  head.u64(tensors.length);
  head.u64(metadata.length + 1);
  head.string("general.alignment");
  writeValue(head, { type: "u32", value: ALIGNMENT });
  for (const [key, value] of metadata) {
    head.string(key);
    writeValue(head, value);
  }
  const sizes = tensors.map((t) => encodedSize(t.shape, t.type, t.name));
  let offset = 0;
  for (const [i, t] of tensors.entries()) {
    head.string(t.name);
    head.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) head.u64(d);
    head.u32(GGML_TYPE[t.type]);
    head.u64(offset);
    offset += sizes[i]!;
    offset += (ALIGNMENT - (offset % ALIGNMENT)) % ALIGNMENT;
  }
  head.pad(ALIGNMENT);
  const fd = openSync(path, "w");
  let total = 0;
  try {
    total += writeAll(fd, head.bytes());
    for (const [i, t] of tensors.entries()) {
      const data = typeof t.data === "function" ? t.data() : t.data;
      if (data.length !== valueCount(t.shape)) throw new Error(`tensor '${t.name}': shape [${t.shape}] needs ${valueCount(t.shape)} values, got ${data.length}`);
      const bytes = encodeTensor(data, t.type, t.shape.at(-1)!);
      total += writeAll(fd, bytes);
      const pad = (ALIGNMENT - (bytes.length % ALIGNMENT)) % ALIGNMENT;
      if (pad && i < tensors.length - 1) total += writeAll(fd, Buffer.alloc(pad));
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return { bytes: total };
}
