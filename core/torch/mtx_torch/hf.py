"""A Hugging Face ``TrainerCallback`` that puts a ``Trainer`` under ``mtx guard``::

    from mtx_torch.hf import MtxGuardCallback
    trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[MtxGuardCallback()])

Before each optimizer step it reports the step's loss (the mean over its micro-batches, read from the
model's outputs), its tokens (the micro-batches' ``input_ids``, padding included) and the gradient norm before clipping (summed from per-parameter hooks after each backward),
then carries out the verdict: skip (the gradients are dropped, so the optimizer moves nothing and keeps its
moments), an LR cut (the scheduled LR times ``lr_scale``), or halt (training stops). A rollback also stops
training and names the checkpoint to resume from (``trainer.train(resume_from_checkpoint=...)``); saved
checkpoints are reported so mtx tags them good or suspect. Needs ``transformers`` (not a dependency of
mtx_torch otherwise).
"""

import math

from transformers import TrainerCallback

from .guard import Guard


class MtxGuardCallback(TrainerCallback):
    def __init__(self, guard=None):
        self.guard = guard or Guard()
        self.losses = []
        self.tokens = 0
        self.sq = {}
        self.handles = []
        self.last = None
        self.rollback_to = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        def capture(_module, args, kwargs, output):
            loss = getattr(output, "loss", None) if not isinstance(output, dict) else output.get("loss")
            if loss is not None and model.training:
                self.losses.append(float(loss.detach()))
                ids = kwargs.get("input_ids", args[0] if args else None)
                self.tokens += int(ids.numel()) if hasattr(ids, "numel") else 0

        self.handles.append(model.register_forward_hook(capture, with_kwargs=True))
        for name, p in model.named_parameters():
            if p.requires_grad:
                # After every backward: the accumulated gradient's squared norm, before any clipping.
                self.handles.append(p.register_post_accumulate_grad_hook(lambda q, n=name: self.sq.__setitem__(n, float(q.grad.detach().float().pow(2).sum()))))

    def on_pre_optimizer_step(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
        step = state.global_step + 1
        loss = sum(self.losses) / len(self.losses) if self.losses else float("nan")
        grad_norm = math.sqrt(sum(self.sq.values()))
        tokens = self.tokens or None
        self.losses.clear()
        self.tokens = 0
        self.sq.clear()
        lr = lr_scheduler.get_last_lr()[0] if lr_scheduler is not None else optimizer.param_groups[0]["lr"]
        v = self.guard.step(step, loss=loss, grad_norm=grad_norm, lr=lr, tokens=tokens)
        self.last = v
        if v.skip or v.halt or v.rollback:
            optimizer.zero_grad(set_to_none=True)
            if not v.skip:
                control.should_training_stop = True
                self.rollback_to = v.checkpoint if v.rollback else None
        else:
            for group in optimizer.param_groups:
                group["lr"] = lr * v.lr_scale

    def on_step_end(self, args, state, control, **kwargs):
        if self.last is None:
            return
        v = self.guard.end_step(state.global_step)
        self.last = None
        if v.halt or v.rollback:
            control.should_training_stop = True
            self.rollback_to = v.checkpoint if v.rollback else None

    def on_save(self, args, state, control, **kwargs):
        import os

        self.guard.checkpoint(state.global_step, os.path.join(args.output_dir, f"checkpoint-{state.global_step}"))

    def on_train_end(self, args, state, control, **kwargs):
        for h in self.handles:
            h.remove()
        self.handles.clear()
        self.guard.finish()
