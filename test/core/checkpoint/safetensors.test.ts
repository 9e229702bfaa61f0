import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors, readSafetensorsHeaderFile, readTensorFromFile, writeSafetensorsFile } from "../../../core/checkpoint/safetensors.js";
import { tempDir } from "../../helpers/cli.js";

const tensors = new Map([
  ["blocks.0.attn.wq", { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 1e-30, -0, 7]) }],
  ["norm.weight", { shape: [4], data: Float32Array.from([1, 1, 0.5, Number.MAX_VALUE > 1 ? 3.4e38 : 0]) }],
]);

// An independent reader written from the format description, in Python with numpy, to show the files
// load outside mtx (Python's `safetensors` package is used when it is installed).
const PY_READER = `
import json, struct, sys
path = sys.argv[1]
try:
    from safetensors.numpy import load_file
    out = {k: v.astype('float32').ravel().tolist() for k, v in load_file(path).items()}
except ImportError:
    import numpy as np
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for k, e in header.items():
        if k == '__metadata__':
            continue
        b, t = e['data_offsets']
        assert e['dtype'] == 'F32'
        out[k] = np.frombuffer(raw[8 + n + b:8 + n + t], dtype='<f4').reshape(e['shape']).ravel().tolist()
print(json.dumps(out))
`;

function pythonWithNumpy(): string | undefined {
  for (const py of ["/usr/bin/python3", "python3"]) {
    const r = spawnSync(py, ["-c", "import numpy"], { encoding: "utf8" });
    if (r.status === 0) return py;
  }
  return undefined;
}

describe("safetensors", () => {
  it("round-trips F32 tensors bit for bit, with metadata and an 8-byte aligned header", () => {
    const buf = encodeSafetensors(tensors, { step: "12" });
    expect(Number(buf.readBigUInt64LE(0)) % 8).toBe(0);
    const { tensors: back, metadata } = decodeSafetensors(buf, "x.safetensors");
    expect(metadata.step).toBe("12");
    for (const [name, t] of tensors) {
      expect(back.get(name)!.shape).toEqual(t.shape);
      expect(Buffer.from(back.get(name)!.data.buffer)).toEqual(Buffer.from(t.data.buffer));
    }
  });

  it("stores BF16 with round-to-nearest (relative error below 2^-8)", () => {
    const data = Float32Array.from({ length: 100 }, (_, i) => Math.sin(i) * 10 ** ((i % 7) - 3));
    const { tensors: back } = decodeSafetensors(encodeSafetensors(new Map([["m", { shape: [100], data }]]), {}, "BF16"), "m.safetensors");
    back.get("m")!.data.forEach((v, i) => expect(Math.abs(v - data[i]!)).toBeLessThanOrEqual(Math.abs(data[i]!) / 256));
  });

  it("writes a file tensor by tensor with the bytes of the in-memory encoder, reading each value only at its turn; reads one tensor back by its byte range", () => {
    for (const dtype of ["F32", "BF16"] as const) {
      const file = join(tempDir(), `s-${dtype}.safetensors`);
      const order: string[] = [];
      const lazy = [...tensors].map(([name, t]) => ({ name, shape: t.shape, data: () => (order.push(name), t.data) }));
      const bytes = writeSafetensorsFile(file, lazy, { format: "pt" }, dtype);
      const written = readFileSync(file);
      expect(bytes).toBe(written.length);
      expect(written.equals(Buffer.from(encodeSafetensors(tensors, { format: "pt" }, dtype)))).toBe(true);
      expect(order).toEqual([...tensors.keys()]);
      const { entries, dataStart } = readSafetensorsHeaderFile(file);
      const norm = readTensorFromFile(file, dataStart, entries.find((e) => e.name === "norm.weight")!);
      expect([...norm]).toEqual([...decodeSafetensors(written, file).tensors.get("norm.weight")!.data]);
    }
    const bad = [{ name: "x", shape: [2, 2], data: () => new Float32Array(3) }];
    expect(() => writeSafetensorsFile(join(tempDir(), "bad.safetensors"), bad)).toThrow(/tensor 'x': shape \[2,2\] needs 4 values, got 3/);
  });

  it("names the file and the problem when truncated", () => {
    const buf = encodeSafetensors(tensors);
    expect(() => decodeSafetensors(buf.subarray(0, buf.length - 3), "model.safetensors")).toThrow(/model.safetensors: .*truncated/);
    expect(() => decodeSafetensors(buf.subarray(0, 5), "model.safetensors")).toThrow(/model.safetensors: not a valid safetensors file/);
  });

  it("is readable by an independent Python reader", () => {
    const py = pythonWithNumpy();
    const dir = tempDir();
    const file = join(dir, "t.safetensors");
    writeFileSync(file, encodeSafetensors(tensors));
    if (!py) {
      // No numpy here: check the layout by hand instead (header JSON, offsets, little-endian floats).
      const buf = encodeSafetensors(tensors);
      const n = Number(buf.readBigUInt64LE(0));
      const header = JSON.parse(buf.subarray(8, 8 + n).toString());
      expect(header["blocks.0.attn.wq"]).toEqual({ dtype: "F32", shape: [2, 3], data_offsets: [0, 24] });
      expect(buf.readFloatLE(8 + n + 8)).toBe(3.5);
      return;
    }
    writeFileSync(join(dir, "read.py"), PY_READER);
    const out = JSON.parse(execFileSync(py, [join(dir, "read.py"), file], { encoding: "utf8" }));
    expect(out["blocks.0.attn.wq"]).toEqual(Array.from(tensors.get("blocks.0.attn.wq")!.data));
    expect(out["norm.weight"][2]).toBe(0.5);
  });
});
