"""mtx's PyTorch training engine. mtx starts it as ``torchrun --nproc_per_node N -m mtx_torch.engine
--connect SOCKET`` (or plain ``python -m mtx_torch.engine`` for one process); on many machines users start
torchrun themselves with this entry point, rank 0 on the machine where mtx runs.

Rank 0 connects to mtx's Unix socket, says hello, then serves requests (protocol ``mtx-engine/1``, framed
by wire.py): each request is broadcast to every rank, which does its part (its shard of the batch, its
shard of the parameters under FSDP, the collectives), and rank 0 replies. mtx owns the loop: the data, the
schedule, the verdicts and checkpoint metadata; the engine owns the tensors.

Requests: start, backward, update, discard, set_frozen, write_tensors, restore, perturb, token_loss,
next_logprobs, generate, kl, load_model, drop_model, close.
"""

import argparse
import datetime
import math
import os
import resource
import socket
import sys
import time
import traceback

import torch
import torch.distributed as dist

from . import PROTOCOL, __version__
from . import checkpoint as ckpt
from . import terms as terms_mod
from .decode import TextDecoder, generate
from .model import Transformer, count_parameters, named_params
from .optim import AdamW
from .wire import read_message, write_message


def _split(n, parts):
    """Contiguous row counts of `n` rows over `parts` ranks (the first ranks take the remainder)."""
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


class Engine:
    def __init__(self, device, strategy, timeout):
        self.rank = dist.get_rank() if dist.is_initialized() else 0
        self.world = dist.get_world_size() if dist.is_initialized() else 1
        self.device = device
        self.strategy = strategy
        self.timeout = timeout
        self.model = None
        self.wrapped = None
        self.opt = None
        self.frozen = set()
        self.pending = False
        self.references = {}
        self.decoder = None
        self.cfg = None
        self.grad_norm = 0.0

    # ------------------------------------------------------------ set-up

    def op_start(self, h, b):
        cfg = h["model"]
        self.cfg = cfg
        self.decoder = TextDecoder(h["tokenizer"])
        torch.manual_seed(h.get("seed", 0))
        model = Transformer(cfg)
        weights = ckpt.read_weights(h["from"]) if h.get("from") else {}
        if h.get("extra"):
            weights.update(ckpt.read_weights(h["extra"]))
        names = [n for n, _, _ in model.specs]
        missing = [n for n in names if n not in weights]
        if missing:
            raise ValueError(f"the starting weights lack {len(missing)} parameters, e.g. {missing[:3]}")
        with torch.no_grad():
            for n, p in named_params(model):
                p.copy_(weights[n].reshape(p.shape))
        model.to(self.device)
        self.model = model
        self.frozen = set(h.get("frozen", []))
        for n, p in named_params(model):
            p.requires_grad_(n not in self.frozen)
        self._wrap()
        self.opt = AdamW(self._named(), h["optimizer"])
        if h.get("from") and h.get("optimizer_moments"):
            state = ckpt.read_optimizer(h["from"])
            if state is not None:
                self._load_moments(state)
        self.opt.drop(self.frozen)
        return {"parameters": count_parameters(cfg), "device": str(self.device), "world": self.world, "strategy": self.strategy, "torch": torch.__version__, "threads": torch.get_num_threads()}, {}

    def _wrap(self):
        if self.strategy == "fsdp":
            from torch.distributed.fsdp import fully_shard

            for block in self.model.blocks:
                fully_shard(block)
            fully_shard(self.model)
            self.wrapped = self.model
        elif self.strategy == "ddp" and self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            if not any(p.requires_grad for p in self.model.parameters()):
                self.wrapped = self.model
            else:
                self.wrapped = DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        else:
            self.wrapped = self.model

    def _named(self):
        return list(named_params(self.model))

    def _full(self, t):
        """The whole tensor on every rank (FSDP's DTensors are gathered)."""
        return t.full_tensor() if hasattr(t, "full_tensor") else t

    def _assign(self, p, full):
        """Copy a full tensor into a parameter or state tensor (FSDP: this rank's shard of it)."""
        with torch.no_grad():
            if hasattr(p, "device_mesh"):
                from torch.distributed.tensor import distribute_tensor

                p.copy_(distribute_tensor(full.to(p.dtype).to(self.device), p.device_mesh, p.placements))
            else:
                p.copy_(full.reshape(p.shape).to(p.dtype))

    def _load_moments(self, state):
        step, m, v, born = state
        self.opt.t = step
        self.opt.m.clear()
        self.opt.v.clear()
        self.opt.born = dict(born)
        params = dict(self._named())
        for n, full in m.items():
            p = params[n]
            mt, vt = torch.zeros_like(p), torch.zeros_like(p)
            self._assign(mt, full)
            self._assign(vt, v[n])
            self.opt.m[n], self.opt.v[n] = mt, vt

    def op_set_frozen(self, h, b):
        new = set(h["names"])
        if new == self.frozen:
            return {}, {}
        if self.strategy == "fsdp":
            raise ValueError("changing which parameters train mid-run is not supported with strategy fsdp; use ddp")
        self.frozen = new
        for n, p in named_params(self.model):
            p.requires_grad_(n not in new)
            p.grad = None
        self.opt.drop(new)
        self._wrap()
        return {}, {}

    # ------------------------------------------------------------ a step

    def op_backward(self, h, b):
        B, T = h["size"], h["seqLen"]
        sizes = _split(B, self.world)
        row0 = sum(sizes[: self.rank])
        rows = sizes[self.rank]
        inputs = b["inputs"].view(B, T)[row0 : row0 + rows].long().to(self.device)
        targets = b["targets"].view(B, T)[row0 : row0 + rows].long().to(self.device)
        for p in self.model.parameters():
            p.grad = None
        trainable = any(p.requires_grad for p in self.model.parameters())
        total_tokens = B * T
        values = {}
        details = {}
        with torch.set_grad_enabled(trainable):
            token_loss, z, hidden = self.wrapped(inputs, targets) if rows else (torch.zeros(0, device=self.device), None, None)
            lm_share = token_loss.sum() / total_tokens
            # Each rank's objective is its share of the batch's sums times the world size: the gradients'
            # mean over ranks (DDP, FSDP) is then the gradient of the whole batch's loss.
            objective = lm_share * self.world
            if z is not None:
                z_share = z * (rows * T / total_tokens)
                objective = objective + z_share * self.world
                values["zLoss"] = z_share
            for term in h.get("terms", []):
                kind, name = term["kind"], term["name"]
                if kind == "masked-nll":
                    mask = b[f"{name}.mask"].view(B, T)[row0 : row0 + rows].reshape(-1).to(self.device)
                    count = float(b[f"{name}.mask"].sum())
                    if count == 0:
                        continue
                    v = terms_mod.masked_nll(token_loss, mask, count, term["weight"])
                    objective = objective + v * self.world
                elif kind == "infonce":
                    if len(term["first"]) < 2:
                        continue
                    v = terms_mod.infonce(hidden, term["first"], term["second"], T, row0, rows, term["temperature"], term["weight"], self.world)
                    objective = objective + v
                    v = v / self.world  # every rank holds the whole term: report one share of it
                elif kind == "reinforce":
                    r = h_rollouts(term, b, name)
                    rsizes = _split(r["size"], self.world)
                    r0 = sum(rsizes[: self.rank])
                    r["inputs"], r["targets"], r["mask"], r["advantages"] = r["inputs"].to(self.device).long(), r["targets"].to(self.device).long(), r["mask"].to(self.device), r["advantages"].to(self.device)
                    if r.get("refLogp") is not None:
                        r["refLogp"] = r["refLogp"].to(self.device)
                    v, kl = terms_mod.reinforce(self.model, r, r0, rsizes[self.rank], r["tokens"], term["weight"], term["klWeight"])
                    objective = objective + v * self.world
                    if kl is not None:
                        details.setdefault(name, {})["kl"] = kl.detach()
                elif kind == "nan":
                    v = lm_share * float("nan")
                    objective = objective + v
                else:
                    raise ValueError(f"loss term kind '{kind}' is not implemented by the torch engine")
                values[name] = values.get(name, 0) + v
            if trainable:
                objective.backward()
        # Reduce what was measured: sums of shares over ranks.
        scalars = [lm_share.detach()] + [torch.as_tensor(v).detach().float().reshape(()) for v in values.values()] + [d for n in details for d in details[n].values()]
        packed = torch.stack([s.to(self.device).float() for s in scalars])
        seq = token_loss.detach().view(rows, T).mean(1) if rows else torch.zeros(0, device=self.device)
        if self.world > 1:
            dist.all_reduce(packed)
            seqs = [torch.zeros(n, device=self.device) for n in sizes]
            dist.all_gather(seqs, seq.contiguous())
            seq = torch.cat(seqs)
        loss = float(packed[0])
        term_values = {n: float(x) for n, x in zip(values.keys(), packed[1 : 1 + len(values)])}
        det = {}
        i = 1 + len(values)
        for n, d in details.items():
            det[n] = {}
            for k in d:
                det[n][k] = float(packed[i])
                i += 1
        grad_norm = self._grad_norm() if trainable else 0.0
        self.pending = trainable
        self.grad_norm = grad_norm
        return {"loss": loss, "totalLoss": loss + sum(term_values.values()), "terms": term_values, "termDetails": det, "gradNorm": grad_norm}, {"sequenceLoss": seq}

    def _grad_norm(self):
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        if not grads:
            return 0.0
        norm = torch.nn.utils.get_total_norm(grads)
        return float(self._full(norm))

    def op_update(self, h, b):
        if not self.pending:
            return {"updateNorm": 0.0}, {}
        sq = self.opt.step(h["lr"], self.grad_norm)
        if sq is None:
            sq = torch.zeros((), device=self.device)
        sq = self._full(sq) if hasattr(sq, "full_tensor") else sq
        self.pending = False
        for p in self.model.parameters():
            p.grad = None
        return {"updateNorm": math.sqrt(float(sq))}, {}

    def op_discard(self, h, b):
        for p in self.model.parameters():
            p.grad = None
        self.pending = False
        return {}, {}

    # ------------------------------------------------------------ checkpoints and faults

    def op_write_tensors(self, h, b):
        weights = {n: self._full(p.detach()).cpu() for n, p in named_params(self.model)}
        optimizer = None
        if h.get("optimizer", True):
            m = {n: self._full(t).cpu() for n, t in self.opt.m.items()}
            v = {n: self._full(t).cpu() for n, t in self.opt.v.items()}
            optimizer = (self.opt.t, m, v, dict(self.opt.born))
        if self.rank == 0:
            ckpt.write_tensors(h["dir"], self.cfg, weights, optimizer)
        return {"optimizerStep": self.opt.t}, {}

    def op_restore(self, h, b):
        weights = ckpt.read_weights(h["dir"])
        for n, p in named_params(self.model):
            self._assign(p, weights[n])
        state = ckpt.read_optimizer(h["dir"])
        if state is not None:
            self._load_moments(state)
        self.opt.drop(self.frozen)
        return {}, {}

    def op_perturb(self, h, b):
        gen = torch.Generator(device="cpu").manual_seed(int(h["seed"]))
        for n, p in named_params(self.model):
            if p.dim() < 2:
                continue
            full = self._full(p.detach()).cpu()
            rms = float(full.pow(2).mean().sqrt())
            noise = torch.randn(full.shape, generator=gen) * (h["scale"] * rms)
            self._assign(p, full + noise)
        return {}, {}

    # ------------------------------------------------------------ scoring and decoding

    def _model_for(self, h):
        mid = h.get("model")
        return self.model if mid in (None, "live") else self.references[mid][0]

    def _decoder_for(self, h):
        mid = h.get("model")
        return self.decoder if mid in (None, "live") else self.references[mid][1]

    def op_token_loss(self, h, b):
        model = self._model_for(h)
        with torch.no_grad():
            inputs = b["inputs"].view(h["size"], h["seqLen"]).long().to(self.device)
            targets = b["targets"].view(h["size"], h["seqLen"]).long().to(self.device)
            loss, _, _ = model(inputs, targets)
        return {}, {"loss": loss.float()}

    def op_top_logprobs(self, h, b):
        model = self._model_for(h)
        with torch.no_grad():
            inputs = b["inputs"].view(h["size"], h["seqLen"]).long().to(self.device)
            top = torch.topk(model(inputs, mode="logprobs").float(), h["k"], dim=-1)
        return {}, {"ids": top.indices.int().cpu(), "logprobs": top.values.cpu()}

    def op_next_logprobs(self, h, b):
        model = self._model_for(h)
        out = []
        ids = b["ids"].tolist()
        at = 0
        with torch.no_grad():
            for n in h["lengths"]:
                prompt = torch.tensor([ids[at : at + n]], dtype=torch.long, device=self.device)
                at += n
                out.append(model(prompt, mode="logprobs")[0, -1])
        return {}, {"logprobs": torch.cat(out) if out else torch.zeros(0)}

    def op_generate(self, h, b):
        model = self._model_for(h)
        ids = b["ids"].tolist()
        prompts = []
        at = 0
        for n in h["lengths"]:
            prompts.append(ids[at : at + n])
            at += n
        with self._unsharded(model):
            outs = generate(model, prompts, h["options"], self._decoder_for(h), self.device)
        return {"lengths": [len(o) for o in outs]}, {"ids": torch.tensor([t for o in outs for t in o], dtype=torch.int32)}

    def op_kl(self, h, b):
        model = self._model_for(h)
        ref = self._model_for({"model": h["reference"]})
        with torch.no_grad():
            inputs = b["inputs"].view(h["size"], h["seqLen"]).long().to(self.device)
            lp = model(inputs, mode="logprobs")
            lq = ref(inputs, mode="logprobs")
            kl = (lq.exp() * (lq - lp)).sum(-1).mean()
        return {"kl": float(kl)}, {}

    def _unsharded(self, model):
        """Decoding calls the blocks step by step: under FSDP their parameters are gathered for it."""
        import contextlib

        if self.strategy != "fsdp" or model is not self.model:
            return contextlib.nullcontext()

        @contextlib.contextmanager
        def gathered():
            mods = [model] + list(model.blocks)
            for m in mods:
                m.unshard()
            try:
                yield
            finally:
                for m in mods:
                    m.reshard()

        return gathered()

    def op_load_model(self, h, b):
        state = ckpt.read_state(h["dir"])
        model = Transformer(state["model"])
        weights = ckpt.read_weights(h["dir"])
        with torch.no_grad():
            for n, p in named_params(model):
                p.copy_(weights[n].reshape(p.shape))
                p.requires_grad_(False)
        model.to(self.device).eval()
        mid = f"ref{len(self.references) + 1}"
        self.references[mid] = (model, TextDecoder(ckpt.read_tokenizer(h["dir"])))
        return {"id": mid}, {}

    def op_memory(self, h, b):
        """Each rank's peak resident memory (and peak CUDA allocation), gathered on rank 0."""
        mine = {"rank": self.rank, "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        if self.device.type == "cuda":
            mine["peakCudaMb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
        ranks = [None] * self.world
        if self.world > 1:
            dist.all_gather_object(ranks, mine)
        else:
            ranks = [mine]
        return {"ranks": ranks}, {}

    def op_drop_model(self, h, b):
        self.references.pop(h["id"], None)
        return {}, {}


def h_rollouts(term, b, name):
    """A reinforce term's rollouts: its header fields and buffers."""
    r = dict(term["rollouts"])
    for k in ("inputs", "targets", "mask", "advantages", "refLogp"):
        if f"{name}.{k}" in b:
            r[k] = b[f"{name}.{k}"]
    return r


# Requests every rank must join (they run collectives); the rest run on rank 0 only.
COLLECTIVE = {"start", "backward", "update", "discard", "set_frozen", "write_tensors", "restore", "perturb", "memory", "close"}


PROFILE = open(os.environ["MTX_ENGINE_PROFILE"], "a") if os.environ.get("MTX_ENGINE_PROFILE") else None


def serve(engine, sock):
    rank = engine.rank
    while True:
        if rank == 0:
            header, buffers = read_message(sock)
        else:
            header, buffers = None, None
        op = header["op"] if header else None
        if engine.world > 1:
            box = [op, header, {k: v for k, v in buffers.items()} if buffers is not None else None]
            dist.broadcast_object_list(box, src=0)
            op, header, buffers = box
        # Inference touches every rank only when the parameters are sharded.
        if rank != 0 and op not in COLLECTIVE and engine.strategy != "fsdp":
            continue
        if op == "close":
            if rank == 0:
                write_message(sock, {"id": header["id"], "ok": True})
            return
        try:
            t0 = time.perf_counter()
            reply, out = getattr(engine, f"op_{op}")(header, buffers)
            if PROFILE and rank == 0:
                PROFILE.write(f"{op} {(time.perf_counter() - t0) * 1000:.1f}\n")
                PROFILE.flush()
            if rank == 0:
                write_message(sock, {"id": header["id"], "ok": True, **reply}, out)
        except Exception as e:  # the request failed: say why; the engine stays up
            if rank == 0:
                write_message(sock, {"id": header["id"], "ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc(limit=6)})
            elif op in COLLECTIVE:
                raise


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m mtx_torch.engine", description="mtx's PyTorch engine (started by mtx, or by you on torchrun)")
    ap.add_argument("--connect", required=True, help="mtx's Unix socket (rank 0 connects to it)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--strategy", default="auto", choices=["auto", "ddp", "fsdp"])
    ap.add_argument("--timeout", type=float, default=600, help="seconds a collective may wait for the other ranks")
    args = ap.parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available() if args.device == "auto" else args.device == "cuda"
    if world > 1:
        dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(seconds=args.timeout))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    strategy = args.strategy if args.strategy != "auto" else ("ddp" if world > 1 else "none")
    if world == 1 and strategy == "ddp":
        strategy = "none"
    # Bitwise-reproducible steps on one process: deterministic kernels where torch has them.
    torch.use_deterministic_algorithms(True, warn_only=True)
    engine = Engine(device, strategy, args.timeout)
    sock = None
    if engine.rank == 0:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(args.connect)
        write_message(sock, {"id": 0, "ok": True, "hello": PROTOCOL, "version": __version__, "rank": 0, "world": engine.world, "device": str(device), "strategy": strategy, "torch": torch.__version__, "pid": os.getpid()})
    try:
        serve(engine, sock)
    except ConnectionError:
        pass
    finally:
        if dist.is_initialized():
            try:
                dist.destroy_process_group()
            except Exception:
                pass
        if sock is not None:
            sock.close()


if __name__ == "__main__":
    sys.exit(main())
