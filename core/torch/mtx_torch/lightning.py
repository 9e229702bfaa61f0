"""A Lightning callback that puts a ``lightning.pytorch.Trainer`` under ``mtx guard``::

    from mtx_torch.lightning import MtxGuardLightningCallback
    trainer = L.Trainer(max_steps=1000, callbacks=[MtxGuardLightningCallback()])

Before each optimizer step (after the gradients are accumulated) it reports the step's loss (the mean of
what ``training_step`` returned over the step's micro-batches), the gradient norm before clipping, the LR
and the tokens of the step's batches, then carries out the verdict: skip (the gradients are dropped, so the
optimizer moves nothing and keeps its moments), an LR cut (this step's LR times ``lr_scale``, restored
after the step so the schedule is untouched), or halt (``trainer.should_stop``). A rollback also stops
training and keeps the checkpoint to resume from in ``rollback_to`` (``trainer.fit(..., ckpt_path=...)``).
Checkpoints written by ``ModelCheckpoint`` are reported so mtx tags them good or suspect. Automatic
optimization with one optimizer. Needs ``lightning`` (not a dependency of mtx_torch otherwise).
"""

import math

from lightning.pytorch.callbacks import Callback

from .guard import Guard


def _tokens(batch):
    """Token count of a batch: its ``input_ids`` (a dict), its first tensor (a tuple or list), or itself."""
    if isinstance(batch, dict):
        batch = batch.get("input_ids", next(iter(batch.values()), None))
    elif isinstance(batch, (list, tuple)):
        batch = batch[0] if batch else None
    return int(batch.numel()) if hasattr(batch, "numel") else 0


class MtxGuardLightningCallback(Callback):
    def __init__(self, guard=None):
        self.guard = guard or Guard()
        self.losses = []
        self.tokens = 0
        self.restore_lrs = None
        self.pending_end = None
        self.reported = set()
        self.rollback_to = None

    def on_fit_start(self, trainer, pl_module):
        # training_step's loss is not handed to callbacks before the optimizer step: read it on its way out.
        original = pl_module.training_step

        def training_step(*args, **kwargs):
            out = original(*args, **kwargs)
            loss = out.get("loss") if isinstance(out, dict) else out
            if loss is not None:
                self.losses.append(float(loss.detach()))
            return out

        pl_module.training_step = training_step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.tokens += _tokens(batch)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        step = trainer.global_step + 1
        self._report_checkpoints(trainer)
        loss = sum(self.losses) / len(self.losses) if self.losses else float("nan")
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        grad_norm = math.sqrt(sum(float(g.detach().float().pow(2).sum()) for g in grads))
        lr = optimizer.param_groups[0]["lr"]
        tokens = self.tokens or None
        self.losses.clear()
        self.tokens = 0
        v = self.guard.step(step, loss=loss, grad_norm=grad_norm, lr=lr, tokens=tokens)
        self.pending_end = step
        if v.skip or v.halt or v.rollback:
            optimizer.zero_grad(set_to_none=True)  # no gradient: the optimizer leaves those parameters alone
            if not v.skip:
                trainer.should_stop = True
                self.rollback_to = v.checkpoint if v.rollback else None
                self.pending_end = None
        elif v.lr_scale != 1.0:
            self.restore_lrs = [g["lr"] for g in optimizer.param_groups]
            for g in optimizer.param_groups:
                g["lr"] = g["lr"] * v.lr_scale

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.restore_lrs is not None:
            for g, lr in zip(trainer.optimizers[0].param_groups, self.restore_lrs):
                g["lr"] = lr
            self.restore_lrs = None
        if self.pending_end is None:
            return
        v = self.guard.end_step(self.pending_end)
        self.pending_end = None
        if v.halt or v.rollback:
            trainer.should_stop = True
            self.rollback_to = v.checkpoint if v.rollback else None

    def _report_checkpoints(self, trainer):
        for cb in trainer.checkpoint_callbacks:
            path = getattr(cb, "last_model_path", "") or getattr(cb, "best_model_path", "")
            if path and path not in self.reported:
                self.reported.add(path)
                self.guard.checkpoint(trainer.global_step, path)

    def on_train_end(self, trainer, pl_module):
        self._report_checkpoints(trainer)
        self.guard.finish()
