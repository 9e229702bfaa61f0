"""The declared loss terms (core/engine/types.ts), computed inside the gradient as the TensorFlow.js engine
computes them (core/engine/tfjs/lossTerms.ts). Each function returns this rank's contribution to the
term's value over the whole batch (its rows' share of a sum), so that summed over ranks it is the term."""

import torch
import torch.distributed as dist
import torch.nn.functional as F


def masked_nll(token_loss, mask, count, weight):
    """weight x sum(mask x nll) / count over the whole batch (count: the global number of masked tokens)."""
    return weight * (token_loss * mask).sum() / max(count, 1e-12)


def _pool(hidden, spans, seq_len, row0):
    """Mean-pooled hidden states of spans [{row, from, to}] (rows numbered in the whole batch)."""
    out = []
    for s in spans:
        r = s["row"] - row0
        out.append(hidden[r * seq_len + s["from"] : r * seq_len + s["to"]].mean(0))
    if not out:
        return hidden.new_zeros((0, hidden.shape[-1]))
    return torch.stack(out)


def infonce(hidden, first, second, seq_len, row0, rows, temperature, weight, world):
    """weight x the symmetric InfoNCE of the pooled span pairs against the batch's other pairs. With several
    ranks each pools its own rows' spans and all ranks see every pair (an autograd all-gather), so each
    computes the whole term; its gradient reaches each span through the gather."""
    mine = [i for i, s in enumerate(first) if row0 <= s["row"] < row0 + rows]
    z1 = _pool(hidden, [first[i] for i in mine], seq_len, row0)
    z2 = _pool(hidden, [second[i] for i in mine], seq_len, row0)
    if world > 1:
        import torch.distributed.nn.functional as dnn

        sizes = [None] * world
        dist.all_gather_object(sizes, len(mine))
        width = max(sizes)
        pad = lambda z: torch.cat([z, z.new_zeros((width - z.shape[0], z.shape[1]))]) if z.shape[0] < width else z  # noqa: E731
        g1 = dnn.all_gather(pad(z1))
        g2 = dnn.all_gather(pad(z2))
        z1 = torch.cat([g[:n] for g, n in zip(g1, sizes)])
        z2 = torch.cat([g[:n] for g, n in zip(g2, sizes)])
    z1 = z1 / (z1.norm(dim=1, keepdim=True) + 1e-6)
    z2 = z2 / (z2.norm(dim=1, keepdim=True) + 1e-6)
    sim = (z1 @ z2.t()) / temperature
    labels = torch.arange(sim.shape[0], device=sim.device)
    loss = (F.cross_entropy(sim, labels) + F.cross_entropy(sim.t(), labels)) / 2
    return weight * loss


def reinforce(model, rollouts, row0, rows, tokens, weight, kl_weight):
    """weight x (-sum A log p over sampled tokens / tokens + kl_weight x the k3 KL to the reference), over
    this rank's rows of the rollouts. Returns (contribution, kl contribution or None)."""
    T = rollouts["seqLen"]
    sl = slice(row0 * T, (row0 + rows) * T)
    inputs = rollouts["inputs"][sl].view(rows, T)
    targets = rollouts["targets"][sl].view(rows, T)
    token_loss, _, _ = model(inputs, targets)
    logp = -token_loss
    mask = rollouts["mask"][sl]
    adv = rollouts["advantages"][row0 : row0 + rows].repeat_interleave(T)
    pg = -(adv * logp * mask).sum() / tokens
    if rollouts.get("refLogp") is None or kl_weight <= 0:
        return weight * pg, None
    diff = rollouts["refLogp"][sl] - logp
    kl = ((diff.exp() - diff - 1) * mask).sum() / tokens
    return weight * (pg + kl_weight * kl), kl
