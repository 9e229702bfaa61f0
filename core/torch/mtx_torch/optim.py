"""AdamW with decoupled weight decay, exactly as core/optim/AdamW.ts applies it (and torch.optim.AdamW):
  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
  theta -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) + lr wd theta
after clipping the gradients to a global norm. Only trainable parameters have moments; t counts each
parameter's own updates (``born``: the global step at which a parameter's moments started), so a
checkpoint's moments continue the same way on either engine. Works on plain tensors and on FSDP's DTensors
(elementwise ops on the local shards)."""

import re

import torch


def matches(name, pattern):
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), name) is not None


class AdamW:
    def __init__(self, named_params, cfg):
        self.params = dict(named_params)
        self.cfg = cfg
        self.t = 0
        self.m = {}
        self.v = {}
        self.born = {}

    def decays(self, name):
        return not any(matches(name, p) for p in self.cfg["noDecay"])

    @torch.no_grad()
    def step(self, lr, grad_norm):
        """Apply one update with the gradients in param.grad; returns the squared norm of the local change."""
        c = self.cfg
        clip = c["gradClip"] / (grad_norm + 1e-6) if c["gradClip"] > 0 and grad_norm > c["gradClip"] else 1.0
        self.t += 1
        sq = None
        for name, p in self.params.items():
            if not p.requires_grad or p.grad is None:
                continue
            if name not in self.m:
                self.m[name] = torch.zeros_like(p)
                self.v[name] = torch.zeros_like(p)
                if self.t > 1 and name not in self.born:
                    self.born[name] = self.t - 1
            m, v = self.m[name], self.v[name]
            t = self.t - self.born.get(name, 0)
            bc1 = 1 - c["beta1"] ** t
            bc2 = 1 - c["beta2"] ** t
            # In place, one temporary per parameter: at 100 M+ parameters the step is memory-bound.
            g = p.grad if clip == 1.0 else p.grad.mul_(clip)
            m.mul_(c["beta1"]).add_(g, alpha=1 - c["beta1"])
            v.mul_(c["beta2"]).addcmul_(g, g, value=1 - c["beta2"])
            delta = torch.div(v, bc2).sqrt_().add_(c["eps"])
            delta.reciprocal_().mul_(m).mul_(lr / bc1)
            if c["weightDecay"] > 0 and self.decays(name):
                delta.add_(p, alpha=lr * c["weightDecay"])
            p.sub_(delta)
            part = delta.mul_(delta).sum()
            sq = part if sq is None else sq + part
        return sq

    def drop(self, names):
        for n in names:
            self.m.pop(n, None)
            self.v.pop(n, None)
            self.born.pop(n, None)
