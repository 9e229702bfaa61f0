import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeGguf, type GgufTensor, type GgufValue } from "../../core/interop/gguf.js";
import { tempDir } from "../helpers/cli.js";

const metadata: [string, GgufValue][] = [["general.architecture", { type: "string", value: "llama" }]];
const values = (n: number, k: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k) * 0.1);

describe("GGUF writer", () => {
  it("writes tensors read lazily, one at a time, with the bytes of tensors given in memory (F32, F16, Q8_0)", () => {
    const shapes: [string, number[], GgufTensor["type"]][] = [
      ["a.weight", [3, 64], "Q8_0"],
      ["b.weight", [5], "F32"],
      ["c.weight", [7, 3], "F16"],
    ];
    const eager: GgufTensor[] = shapes.map(([name, shape, type], k) => ({ name, shape, type, data: values(shape.reduce((a, b) => a * b, 1), k + 1) }));
    const order: string[] = [];
    const lazy: GgufTensor[] = eager.map((t) => ({ ...t, data: () => (order.push(t.name), t.data as Float32Array) }));
    const dir = tempDir();
    const a = writeGguf(join(dir, "eager.gguf"), metadata, eager);
    const b = writeGguf(join(dir, "lazy.gguf"), metadata, lazy);
    expect(order).toEqual(["a.weight", "b.weight", "c.weight"]);
    expect(b.bytes).toBe(a.bytes);
    const bytes = readFileSync(join(dir, "lazy.gguf"));
    expect(bytes.length).toBe(b.bytes);
    expect(bytes.equals(readFileSync(join(dir, "eager.gguf")))).toBe(true);
    expect(bytes.readUInt32LE(0)).toBe(0x46554747);
    expect(bytes.readBigUInt64LE(8)).toBe(3n);
  });

  it("refuses Q8_0 rows that are not whole blocks of 32 before creating the file, and data that does not fill the shape", () => {
    const dir = tempDir();
    expect(() => writeGguf(join(dir, "q.gguf"), metadata, [{ name: "w", shape: [2, 48], type: "Q8_0", data: () => values(96, 1) }])).toThrow(/tensor 'w': Q8_0 needs rows of a multiple of 32 values \(got 48\)/);
    expect(existsSync(join(dir, "q.gguf"))).toBe(false);
    expect(() => writeGguf(join(dir, "s.gguf"), metadata, [{ name: "w", shape: [2, 4], type: "F32", data: () => values(7, 1) }])).toThrow(/tensor 'w': shape \[2,4\] needs 8 values, got 7/);
  });
});
