"""mtx's PyTorch engine and the client for guarding a training loop of your own.

- ``python -m mtx_torch.engine``: the training engine mtx starts on torchrun (DDP or FSDP) and drives over
  a versioned protocol (``wire.py``); rank 0 speaks to mtx, the other ranks follow through
  torch.distributed.
- The same entry point, started as one more single process, scores and decodes for probes off the training loop.
- ``mtx_torch.guard.Guard``: report each step of your own loop to ``mtx guard`` and obey its verdicts
  (standard library only); ``mtx_torch.hf.MtxGuardCallback`` does it for Hugging Face's Trainer and
  ``mtx_torch.lightning.MtxGuardLightningCallback`` for Lightning's.
"""

__version__ = "0.2.0"
PROTOCOL = "mtx-engine/1"
