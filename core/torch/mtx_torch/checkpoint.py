"""Reading and writing the tensor files of an mtx checkpoint directory (the layout of
core/checkpoint/Checkpoint.ts): model.safetensors, adapters.safetensors (low-rank factors, when the model
has them) and optimizer.safetensors (``m.<param>``, ``v.<param>``; metadata ``step`` and ``born``).
state.json, tokenizer.json and the manifest are mtx's: it verifies every file before the engine reads one,
and writes the manifest after the engine's files are complete."""

import json
import os

from . import safetensors_io


def read_state(directory):
    with open(os.path.join(directory, "state.json")) as f:
        return json.load(f)


def read_tokenizer(directory):
    with open(os.path.join(directory, "tokenizer.json")) as f:
        return f.read()


def read_weights(directory):
    """{name: tensor} of model.safetensors and adapters.safetensors (when present)."""
    weights, _ = safetensors_io.read(os.path.join(directory, "model.safetensors"))
    adapters = os.path.join(directory, "adapters.safetensors")
    if os.path.exists(adapters):
        weights.update(safetensors_io.read(adapters)[0])
    return weights


def read_optimizer(directory):
    """(step, {name: m}, {name: v}, {name: born}) or None when the checkpoint has no moments."""
    path = os.path.join(directory, "optimizer.safetensors")
    if not os.path.exists(path):
        return None
    tensors, meta = safetensors_io.read(path)
    m = {k[2:]: t for k, t in tensors.items() if k.startswith("m.")}
    v = {k[2:]: t for k, t in tensors.items() if k.startswith("v.")}
    born = {k: int(x) for k, x in json.loads(meta["born"]).items()} if meta.get("born") else {}
    return int(meta.get("step", 0)), m, v, born


def write_tensors(directory, cfg, weights, optimizer=None):
    """Write the tensor files in mtx's layout; `optimizer` is (step, m, v, born) or None."""
    main = {k: t for k, t in weights.items() if not (k.endswith(".lora_a") or k.endswith(".lora_b"))}
    adapters = {k: t for k, t in weights.items() if k.endswith(".lora_a") or k.endswith(".lora_b")}
    safetensors_io.write(os.path.join(directory, "model.safetensors"), main, {"format": "pt", "producer": "mtx"})
    if adapters:
        a = cfg.get("adapters") or {}
        safetensors_io.write(os.path.join(directory, "adapters.safetensors"), adapters, {"format": "pt", "producer": "mtx", "rank": a.get("rank"), "alpha": a.get("alpha"), "targets": json.dumps(a.get("targets", []))})
    if optimizer is not None:
        step, m, v, born = optimizer
        tensors = {f"m.{k}": t for k, t in m.items()}
        tensors.update({f"v.{k}": t for k, t in v.items()})
        meta = {"step": str(step)}
        if born:
            meta["born"] = json.dumps(born)
        safetensors_io.write(os.path.join(directory, "optimizer.safetensors"), tensors, meta)
