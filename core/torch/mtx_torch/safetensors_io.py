"""safetensors files (Hugging Face's format) with the standard library and torch: an 8-byte little-endian
header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}} padded to 8
bytes, then the raw tensors. The same layout mtx's TypeScript side writes (core/checkpoint/safetensors.ts),
so checkpoints move between engines."""

import ctypes
import json
import os
import struct

import torch

_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def read(path):
    """{name: float32 tensor}, metadata."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    metadata = header.pop("__metadata__", None) or {}
    start = 8 + n
    out = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        dtype = _DTYPES[e["dtype"]]
        raw = bytearray(data[start + begin : start + end])
        t = torch.frombuffer(raw, dtype=dtype) if raw else torch.zeros(0, dtype=dtype)
        out[name] = t.reshape(e["shape"]).to(torch.float32)
    return out, metadata


def _bytes(t):
    t = t.detach().to(torch.float32).contiguous().cpu()
    return ctypes.string_at(t.data_ptr(), t.numel() * 4) if t.numel() else b""


def write(path, tensors, metadata=None):
    """Write float32 tensors (in the given order) with string metadata; fsync before returning."""
    header = {"__metadata__": {k: str(v) for k, v in (metadata or {}).items()}}
    chunks = []
    offset = 0
    for name, t in tensors.items():
        b = _bytes(t)
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    js = json.dumps(header, separators=(",", ":"))
    js += " " * ((8 - len(js.encode()) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js.encode())))
        f.write(js.encode())
        for c in chunks:
            f.write(c)
        f.flush()
        os.fsync(f.fileno())
