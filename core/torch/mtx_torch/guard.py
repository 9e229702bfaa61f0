"""Guard a training loop of your own with mtx's guardrails. Start ``mtx guard --plugins spike,...`` and
report each step from your loop; each report returns a verdict to carry out::

    from mtx_torch.guard import Guard

    guard = Guard()                                   # MTX_GUARD, or http://127.0.0.1:7711
    for step, batch in enumerate(loader, start=1):
        loss = model(**batch).loss
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        v = guard.step(step, loss=loss.item(), grad_norm=grad_norm.item(), lr=scheduler.get_last_lr()[0])
        if v.halt:
            break
        if v.skip:                                    # no update: no moments, no weight decay
            optimizer.zero_grad(set_to_none=True)
            continue
        for group in optimizer.param_groups:          # an LR cut mtx asked for (1.0 otherwise)
            group["lr"] = scheduler.get_last_lr()[0] * v.lr_scale
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if guard.end_step(step).halt:
            break
    guard.finish()

Standard library only (urllib). A rollback verdict names the checkpoint to load (``v.checkpoint``): report
checkpoints with ``guard.checkpoint(step, path)`` so mtx knows which ones were saved while no guardrail was
acting.
"""

import json
import math
import os
import urllib.error
import urllib.request


class GuardError(RuntimeError):
    """mtx guard refused a report or could not be reached."""


class Verdict:
    """What the loop should do: ``action`` is continue, skip, rollback or halt; ``lr_scale`` multiplies the
    schedule's LR (an LR cut in force)."""

    def __init__(self, d):
        self.action = d.get("action", "continue")
        self.lr_scale = float(d.get("lrScale", 1.0))
        self.plugin = d.get("plugin")
        self.reason = d.get("reason")
        self.checkpoint = d.get("checkpoint")
        self.checkpoint_step = d.get("checkpointStep")
        self.skip_samples = d.get("skipSamples") or []

    skip = property(lambda self: self.action == "skip")
    halt = property(lambda self: self.action == "halt")
    rollback = property(lambda self: self.action == "rollback")

    def __repr__(self):
        return f"Verdict({self.action}, lr_scale={self.lr_scale}, plugin={self.plugin!r}, reason={self.reason!r})"


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else ("NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity"))


class Guard:
    def __init__(self, address=None, token=None, timeout=120):
        self.address = (address or os.environ.get("MTX_GUARD") or "http://127.0.0.1:7711").rstrip("/")
        self.token = token or os.environ.get("MTX_GUARD_TOKEN")
        self.timeout = timeout

    def _post(self, path, body):
        req = urllib.request.Request(self.address + path, data=json.dumps(body).encode(), method="POST", headers={"content-type": "application/json"})
        if self.token:
            req.add_header("authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                message = json.loads(e.read())["error"]["message"]
            except Exception:
                message = str(e)
            raise GuardError(f"mtx guard refused {path}: {message}") from None
        except urllib.error.URLError as e:
            raise GuardError(f"mtx guard is not reachable at {self.address} ({e.reason}): start it with `mtx guard --plugins spike`") from None

    def step(self, step, loss, grad_norm, lr, tokens=None, samples=None, sources=None, metrics=None):
        """Report a step after backward, before the optimizer step; returns the verdict."""
        body = {"step": int(step), "loss": _num(loss), "gradNorm": _num(grad_norm), "lr": float(lr)}
        if tokens is not None:
            body["tokens"] = int(tokens)
        if samples is not None:
            body["samples"] = [str(s) for s in samples]
        if sources is not None:
            body["sources"] = [str(s) for s in sources]
        if metrics:
            body["metrics"] = {k: float(v) for k, v in metrics.items()}
        return Verdict(self._post("/v1/step", body))

    def end_step(self, step, update_norm=None):
        """Report that the step's update was applied (or skipped); a guardrail may still roll back or halt."""
        body = {"step": int(step)}
        if update_norm is not None:
            body["updateNorm"] = float(update_norm)
        return Verdict(self._post("/v1/end_step", body))

    def checkpoint(self, step, path):
        """Report a saved checkpoint; returns its tag ("good", or "suspect" soon after a verdict)."""
        return self._post("/v1/checkpoint", {"step": int(step), "path": os.path.abspath(path)})["tag"]

    def finish(self, status=None):
        """End the guarded run (mtx guard writes summary.json and exits); returns the summary."""
        return self._post("/v1/finish", {"status": status} if status else {})
