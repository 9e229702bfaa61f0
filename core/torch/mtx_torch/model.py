"""The decoder-only transformers mtx trains, in PyTorch, computing what core/model/Transformer.ts computes:

- ``arch: "gelu"`` (checkpoints before 0.2): pre-RMSNorm blocks, rotary attention, a 4x tanh-GELU MLP
  (``mlp.w1``, ``mlp.w2``), untied head, no biases; optional qk-norm and z-loss.
- ``arch: "llama"``: the same attention with optional grouped-query heads (``nKvHeads``) and a SwiGLU MLP,
  ``down(silu(gate(x)) * up(x))`` (``mlp.gate``, ``mlp.up``, ``mlp.down``; width ``intermediate``).

Parameters have mtx's dotted names (``blocks.3.attn.wq``) as their module paths, and matrices are stored
``[in, out]`` (y = x W), the transpose of torch.nn.Linear, so a checkpoint written by either engine loads
in the other unchanged. Low-rank adapters: W x + (alpha / r) (x A) B with A [in, r], B [r, out].
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import rope as rope_mod


def _matches(name, pattern):
    import re

    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), name) is not None


def arch_of(cfg):
    return cfg.get("arch") or "gelu"


def kv_heads(cfg):
    return cfg.get("nKvHeads") or cfg["nHeads"]


def intermediate_of(cfg):
    if arch_of(cfg) == "gelu":
        return 4 * cfg["dModel"]
    return cfg["intermediate"]


def parameter_specs(cfg):
    """(name, shape, kind) in mtx's order (core/model/Transformer.ts parameterSpecs)."""
    V, D, L, H = cfg["vocabSize"], cfg["dModel"], cfg["nLayers"], cfg["nHeads"]
    hd = D // H
    kv = kv_heads(cfg) * hd
    inter = intermediate_of(cfg)
    specs = [("embed.weight", [V, D], "embedding")]
    for i in range(L):
        p = f"blocks.{i}"
        specs.append((f"{p}.norm1.weight", [D], "norm"))
        specs += [(f"{p}.attn.wq", [D, D], "matrix"), (f"{p}.attn.wk", [D, kv], "matrix"), (f"{p}.attn.wv", [D, kv], "matrix"), (f"{p}.attn.wo", [D, D], "matrix")]
        if cfg.get("qkNorm"):
            specs += [(f"{p}.attn.qNorm.weight", [hd], "norm"), (f"{p}.attn.kNorm.weight", [hd], "norm")]
        specs.append((f"{p}.norm2.weight", [D], "norm"))
        if arch_of(cfg) == "llama":
            specs += [(f"{p}.mlp.gate", [D, inter], "matrix"), (f"{p}.mlp.up", [D, inter], "matrix"), (f"{p}.mlp.down", [inter, D], "matrix")]
        else:
            specs += [(f"{p}.mlp.w1", [D, inter], "matrix"), (f"{p}.mlp.w2", [inter, D], "matrix")]
    specs.append(("norm.weight", [D], "norm"))
    if not cfg.get("tiedEmbeddings"):
        specs.append(("head.weight", [D, V], "matrix"))
    adapters = cfg.get("adapters")
    if adapters:
        r = adapters["rank"]
        for name, shape, kind in list(specs):
            if kind == "matrix" and any(_matches(name, t) for t in adapters["targets"]):
                specs.append((name + ".lora_a", [shape[0], r], "adapter"))
                specs.append((name + ".lora_b", [r, shape[1]], "adapter"))
    return specs


class _Holder(nn.Module):
    """A module that only holds parameters and children, so module paths spell mtx's names."""


_ADAPTER_SUFFIXES = (".lora_a", ".lora_b")


def module_path(name):
    """The module path of an mtx parameter name: the name itself, except that a matrix's adapters
    (``attn.wq.lora_a``) sit beside it as ``attn.wq__lora_a``, since a parameter cannot hold children."""
    for suffix in _ADAPTER_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)] + "__" + suffix[1:]
    return name


def mtx_name(path):
    """The mtx parameter name of a module path (module_path's inverse)."""
    for suffix in _ADAPTER_SUFFIXES:
        mangled = "__" + suffix[1:]
        if path.endswith(mangled):
            return path[: -len(mangled)] + suffix
    return path


def named_params(model):
    """(mtx name, parameter) of every parameter of `model`, in registration order."""
    return [(mtx_name(n), p) for n, p in model.named_parameters()]


def _add_params(root, specs, prefix=""):
    """Register each spec's parameter under its dotted name (relative to `prefix`) as nested holders."""
    for name, shape, _ in specs:
        if not name.startswith(prefix):
            continue
        parts = module_path(name[len(prefix) :]).split(".")
        node = root
        for part in parts[:-1]:
            if not hasattr(node, part) or not isinstance(getattr(node, part), nn.Module):
                node.add_module(part, _Holder())
            node = getattr(node, part)
        node.register_parameter(parts[-1], nn.Parameter(torch.zeros(shape)))


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


class Block(nn.Module):
    """One pre-norm transformer block (``blocks.<i>``): attention then MLP, each added to the residual. A
    module of its own so FSDP can shard and gather it block by block."""

    def __init__(self, cfg, specs, index, lora, lora_scale):
        super().__init__()
        self.cfg = cfg
        self.prefix = f"blocks.{index}."
        _add_params(self, specs, self.prefix)
        self._lora = {n[len(self.prefix) :] for n in lora if n.startswith(self.prefix)}
        self.lora_scale = lora_scale

    def project(self, x, name):
        y = x @ self.get_parameter(name)
        if name in self._lora:
            y = y + self.lora_scale * ((x @ self.get_parameter(module_path(name + ".lora_a"))) @ self.get_parameter(module_path(name + ".lora_b")))
        return y

    def qkv(self, x):
        cfg = self.cfg
        B, T, D = x.shape
        H, KV = cfg["nHeads"], kv_heads(cfg)
        hd = D // H
        h = rms_norm(x, self.get_parameter("norm1.weight"), cfg["normEps"])
        q = self.project(h, "attn.wq").view(B, T, H, hd)
        k = self.project(h, "attn.wk").view(B, T, KV, hd)
        v = self.project(h, "attn.wv").view(B, T, KV, hd)
        if cfg.get("qkNorm"):
            q = rms_norm(q, self.get_parameter("attn.qNorm.weight"), cfg["normEps"])
            k = rms_norm(k, self.get_parameter("attn.kNorm.weight"), cfg["normEps"])
        return q, k, v

    def feed_forward(self, x):
        h = rms_norm(x, self.get_parameter("norm2.weight"), self.cfg["normEps"])
        if arch_of(self.cfg) == "llama":
            return self.project(F.silu(self.project(h, "mlp.gate")) * self.project(h, "mlp.up"), "mlp.down")
        return self.project(F.gelu(self.project(h, "mlp.w1"), approximate="tanh"), "mlp.w2")

    def forward(self, x, cos, sin, cache=None, pos=0):
        """x [B, n, D] at positions pos..pos+n-1; with `cache` ([k, v] of this block, updated in place) the
        queries also see the cached keys."""
        H, KV = self.cfg["nHeads"], kv_heads(self.cfg)
        B, n, _ = x.shape
        q, k, v = self.qkv(x)
        q = q * cos + rope_mod.rotate_half(q) * sin
        k = k * cos + rope_mod.rotate_half(k) * sin
        if cache is None:
            o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True, enable_gqa=KV != H)
        else:
            if cache[0] is not None:
                k = torch.cat([cache[0], k], dim=1)
                v = torch.cat([cache[1], v], dim=1)
            cache[0], cache[1] = k, v
            total = pos + n
            # Query j (at position pos + j) sees keys 0..pos + j.
            mask = torch.arange(total, device=x.device)[None, :] <= (pos + torch.arange(n, device=x.device))[:, None]
            o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask, enable_gqa=KV != H)
        x = x + self.project(o.transpose(1, 2).reshape(B, n, -1), "attn.wo")
        return x + self.feed_forward(x)


class Transformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = dict(cfg)
        self.specs = parameter_specs(cfg)
        r = cfg.get("rope") or {}
        self.rope_spec = {"type": r.get("type") or "none", "base": r.get("base") or cfg["ropeBase"], "factor": r.get("factor") or 1, "originalContext": r.get("originalContext") or cfg["contextLength"]}
        a = cfg.get("adapters")
        self.lora_scale = a["alpha"] / a["rank"] if a else 0.0
        lora = {n[: -len(".lora_a")] for n, _, kind in self.specs if kind == "adapter" and n.endswith(".lora_a")}
        self._lora = {n for n in lora if not n.startswith("blocks.")}
        self.blocks = nn.ModuleList([Block(self.cfg, self.specs, i, lora, self.lora_scale) for i in range(cfg["nLayers"])])
        _add_params(self, [s for s in self.specs if not s[0].startswith("blocks.")])
        self._tables = {}

    def param(self, name):
        return self.get_parameter(module_path(name))

    def rope_tables(self, length, device):
        key = (length, str(device))
        t = self._tables.get(key)
        if t is None:
            hd = self.cfg["dModel"] // self.cfg["nHeads"]
            t = rope_mod.tables(length, hd, self.rope_spec, device=device)
            self._tables[key] = t
        return t

    def project(self, x, name):
        y = x @ self.param(name)
        if name in self._lora:
            y = y + self.lora_scale * ((x @ self.param(name + ".lora_a")) @ self.param(name + ".lora_b"))
        return y

    def hidden(self, ids, table_len=None):
        """Final hidden states [B, T, D] of token ids [B, T]."""
        T = ids.shape[1]
        cos, sin = self.rope_tables(table_len or T, ids.device)
        cos, sin = cos[:T][None, :, None, :], sin[:T][None, :, None, :]
        x = self.param("embed.weight")[ids]
        for block in self.blocks:
            x = block(x, cos, sin)
        return rms_norm(x, self.param("norm.weight"), self.cfg["normEps"])

    def logits(self, hidden):
        if self.cfg.get("tiedEmbeddings"):
            return hidden @ self.param("embed.weight").t()
        return self.project(hidden, "head.weight")

    def forward(self, inputs, targets=None, mode="loss"):
        """mode "loss": (token loss [B*T], z-loss or None, hidden [B*T, D]); "logprobs": next-token
        log-probabilities [B, T, V]. Everything goes through here so FSDP gathers the parameters it needs."""
        hidden = self.hidden(inputs)
        logits = self.logits(hidden).float()
        if mode == "logprobs":
            return torch.log_softmax(logits, -1)
        token_loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long(), reduction="none")
        z = None
        if self.cfg.get("zLoss", 0) > 0:
            z = self.cfg["zLoss"] * torch.logsumexp(logits, -1).pow(2).mean()
        return token_loss, z, hidden.reshape(-1, hidden.shape[-1])

    # ------------------------------------------------------------ decoding with a key/value cache

    @torch.no_grad()
    def decode_step(self, ids, cache, pos, table_len):
        """Feed ids [B, n] at positions pos..pos+n-1 with `cache` (a [k, v] per block, updated in place);
        returns the next-token log-probabilities [B, V] at the last position."""
        n = ids.shape[1]
        cos, sin = self.rope_tables(table_len, ids.device)
        cos, sin = cos[pos : pos + n][None, :, None, :], sin[pos : pos + n][None, :, None, :]
        x = self.param("embed.weight")[ids]
        for i, block in enumerate(self.blocks):
            if cache[i] is None:
                cache[i] = [None, None]
            x = block(x, cos, sin, cache[i], pos)
        last = rms_norm(x[:, -1], self.param("norm.weight"), self.cfg["normEps"])
        return torch.log_softmax(self.logits(last).float(), -1)


def count_parameters(cfg):
    return sum(math.prod(s) for _, s, _ in parameter_specs(cfg))
