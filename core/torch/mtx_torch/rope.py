"""Rotary position embedding tables, the same as core/model/rope.ts (rotate-half, as in GPT-NeoX and
Llama; context-extension scalings after Hugging Face transformers' modeling_rope_utils.py)."""

import math

import torch


def inverse_frequencies(dim, spec, seq_len=None):
    half = dim // 2
    s = spec.get("factor") or 1
    kind = spec.get("type") or "none"
    base = spec["base"]
    if kind == "ntk":
        base = base * s ** (dim / (dim - 2))
    if kind == "dynamic-ntk":
        l0 = spec["originalContext"]
        length = seq_len or l0
        if length > l0:
            base = base * (s * length / l0 - (s - 1)) ** (dim / (dim - 2))
    inv = [base ** (-2 * i / dim) for i in range(half)]
    if kind == "linear":
        inv = [x / s for x in inv]
    if kind == "yarn":
        l0 = spec["originalContext"]

        def correction(rotations):
            return dim * math.log(l0 / (rotations * 2 * math.pi)) / (2 * math.log(spec["base"]))

        low = max(math.floor(correction(spec.get("betaFast", 32))), 0)
        high = min(math.ceil(correction(spec.get("betaSlow", 1))), dim - 1)
        if high == low:
            high += 0.001
        out = []
        for i, x in enumerate(inv):
            ramp = min(1, max(0, (i - low) / (high - low)))
            out.append((x / s) * ramp + x * (1 - ramp))
        inv = out
    return inv


def attention_factor(spec):
    s = spec.get("factor") or 1
    return 0.1 * math.log(s) + 1 if spec.get("type") == "yarn" and s > 1 else 1.0


def tables(seq_len, head_dim, spec, device=None, offset=0):
    """cos and sin [seq_len, head_dim] for positions offset..offset+seq_len-1 (float64 angles, as in JS)."""
    inv = torch.tensor(inverse_frequencies(head_dim, spec, seq_len=offset + seq_len), dtype=torch.float64)
    pos = torch.arange(offset, offset + seq_len, dtype=torch.float64)
    angles = pos[:, None] * torch.cat([inv, inv])[None, :]
    scale = attention_factor(spec)
    return (torch.cos(angles) * scale).to(torch.float32).to(device), (torch.sin(angles) * scale).to(torch.float32).to(device)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)
