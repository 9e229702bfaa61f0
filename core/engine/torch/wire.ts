/**
 * The wire format between mtx and its PyTorch engine processes (the Python side: core/torch/mtx_torch/wire.py):
 * a 4-byte big-endian length, a JSON header of that length, then the raw little-endian bytes of the buffers
 * the header lists (`"buffers": [{ "name", "dtype": "i32" | "f32", "count" }]`), in order. Token batches and
 * scores travel as buffers; JSON has no NaN or infinity, so they travel as "NaN", "Infinity", "-Infinity".
 */
import type { Socket } from "node:net";

export type Buffers = Record<string, Int32Array | Float32Array>;

export interface Message {
  header: Record<string, unknown>;
  buffers: Buffers;
}

const NON_FINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };

/** Encode a message. */
export function encode(header: Record<string, unknown>, buffers: Buffers = {}): Buffer {
  const listed: { name: string; dtype: "i32" | "f32"; count: number }[] = [];
  const parts: Buffer[] = [];
  for (const [name, b] of Object.entries(buffers)) {
    listed.push({ name, dtype: b instanceof Int32Array ? "i32" : "f32", count: b.length });
    parts.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  const body = Buffer.from(JSON.stringify({ ...header, buffers: listed }, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v)));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body, ...parts]);
}

/** Decodes messages from a stream of bytes as they arrive. */
export class MessageReader {
  private chunks: Buffer[] = [];
  private size = 0;

  /** Feed bytes; returns the messages completed by them. */
  push(data: Buffer): Message[] {
    this.chunks.push(data);
    this.size += data.length;
    const out: Message[] = [];
    for (;;) {
      const m = this.next();
      if (!m) break;
      out.push(m);
    }
    return out;
  }

  private peek(n: number): Buffer | undefined {
    if (this.size < n) return undefined;
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.size -= n;
    return out;
  }

  private next(): Message | undefined {
    const head = this.peek(4);
    if (!head) return undefined;
    const hlen = head.readUInt32BE(0);
    const headerBytes = this.peek(4 + hlen);
    if (!headerBytes) return undefined;
    const header = JSON.parse(headerBytes.subarray(4).toString("utf8"), (_k, v) => (typeof v === "string" && v in NON_FINITE ? NON_FINITE[v] : v)) as Record<string, unknown> & { buffers?: { name: string; dtype: string; count: number }[] };
    const listed = header.buffers ?? [];
    const total = 4 + hlen + listed.reduce((a, b) => a + 4 * b.count, 0);
    if (this.size < total) return undefined;
    const frame = this.take(total);
    const buffers: Buffers = {};
    let at = 4 + hlen;
    for (const b of listed) {
      // A copy: the frame's memory is not aligned for typed arrays in general.
      const bytes = new Uint8Array(frame.subarray(at, at + 4 * b.count));
      buffers[b.name] = b.dtype === "i32" ? new Int32Array(bytes.buffer, 0, b.count) : new Float32Array(bytes.buffer, 0, b.count);
      at += 4 * b.count;
    }
    delete header.buffers;
    return { header, buffers };
  }
}

/** Write a message to a socket (resolves when it is flushed to the kernel). */
export function send(socket: Socket, header: Record<string, unknown>, buffers?: Buffers): Promise<void> {
  return new Promise((resolve, reject) => socket.write(encode(header, buffers), (err) => (err ? reject(err) : resolve())));
}
