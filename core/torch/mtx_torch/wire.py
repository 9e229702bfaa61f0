"""The wire format between mtx (Node) and its engines: one message is a 4-byte big-endian length, a JSON
header of that length, then the raw little-endian bytes of the buffers the header lists
(``"buffers": [{"name": ..., "dtype": "i32" | "f32", "count": n}]``), in order. Token batches and scores
travel as buffers, never as JSON numbers."""

import ctypes
import json
import math
import struct

import torch

DTYPES = {"i32": (torch.int32, 4), "f32": (torch.float32, 4)}


def _read_exact(sock, n):
    view = bytearray(n)
    got = 0
    mv = memoryview(view)
    while got < n:
        k = sock.recv_into(mv[got:], n - got)
        if k == 0:
            raise ConnectionError("mtx closed the connection")
        got += k
    return bytes(view)


def read_message(sock):
    """One message: (header dict, {name: tensor})."""
    (length,) = struct.unpack(">I", _read_exact(sock, 4))
    header = json.loads(_read_exact(sock, length))
    buffers = {}
    for b in header.get("buffers", []):
        dtype, width = DTYPES[b["dtype"]]
        raw = _read_exact(sock, b["count"] * width)
        buffers[b["name"]] = torch.frombuffer(bytearray(raw), dtype=dtype) if b["count"] else torch.zeros(0, dtype=dtype)
    return header, buffers


def write_message(sock, header, buffers=None):
    """Send a header and named tensors (int32 or float32, flattened)."""
    parts = []
    listed = []
    for name, t in (buffers or {}).items():
        t = t.detach().contiguous().reshape(-1).cpu()
        code = "i32" if t.dtype in (torch.int32, torch.int64) else "f32"
        t = t.to(torch.int32 if code == "i32" else torch.float32)
        listed.append({"name": name, "dtype": code, "count": t.numel()})
        parts.append(ctypes.string_at(t.data_ptr(), t.numel() * 4) if t.numel() else b"")
    body = json.dumps(_finite({**header, "buffers": listed})).encode()
    sock.sendall(struct.pack(">I", len(body)) + body + b"".join(parts))


def _finite(x):
    """JSON has no NaN or infinity: they travel as the strings "NaN", "Infinity", "-Infinity"."""
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x
