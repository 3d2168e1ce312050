"""Record any PyTorch training loop into a run directory: `reportgen.Recorder`, a thin shell over the step log."""
from __future__ import annotations

import dataclasses
import io
import json
import math
import shutil
import traceback
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.amp.grad_scaler import OptState

from ..compute.runtime import environment
from ..compute.steplog import StepLog, diverged_at
from ..compute.sharpness import meter as sharpness_meter
from ..declare import Recorded, Sharpness
from ..declare.config import run_id
from ..store.io import write_bytes
from ..store.rundir import Run

STEP_KEYS = ("step", "loss", "accuracy", "lr", "grad_norm", "clipped")   # a chunk's arrays along every step
GRAD_KEYS = ("grad_step", "grad", "update", "act")                      # along the logged steps


class Recorder:
    """Records your own loop into `path`/<run-id>/, the run directory `reportgen run` writes, so that
    `reportgen render` and `reportgen build` draw it like a declared experiment:

        rec = reportgen.Recorder(model, "runs/my-run", config={"lr": 1e-3})   # or: with ... as rec:
        for epoch in range(epochs):
            for x, y in loader:
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                rec.step(loss=loss, optimizer=opt)   # after backward, before opt.step()
                opt.step()
            rec.epoch(val_loss=evaluate(model))      # one frame of the figures
        rec.close()

    Per step: loss, lr (the optimizer's first group), global gradient norm, accuracy if given; every `every`
    steps: per-tensor gradient statistics; weight snapshots at the start, every `snapshots` steps (0: none
    in between), at each epoch() and at close() (snapshots=None: none; they cost a model's size each).
    Nothing leaves the device until epoch() or close() copies the measurements back in one transfer (a
    snapshot is copied when taken).

    path: runs/<name>. The run is runs/<name>/<id>, id a hash of name and config: recording again with the
        same config replaces that run, another config makes a new one beside it; the site shows the newest.
    config: your settings (a dict, dataclass or argparse.Namespace; values JSON cannot hold become text),
        shown on the run's page and returned by load_run.
    AMP: give rec.step your GradScaler (scaler=) and the unscaled loss. Gradients are recorded unscaled:
        divided by the scale on the device, or taken as they are when you called scaler.unscale_(opt)
        first (e.g. to clip). Steps whose gradients overflowed, which the scaler skips, are left out.
    Gradient accumulation: call rec.step once per optimizer step, after the last micro-batch's backward.
    torch.compile, DistributedDataParallel, DataParallel: pass the wrapped model; parameters are named as
        the inner module names them. Under torch.distributed only rank 0 records (elsewhere every call does
        nothing) and the recorder never communicates, so it cannot deadlock. FSDP is not supported.
    checkpoint_every: also save model and optimizer every N epochs to checkpoints/last.pt (0, the default:
        never; checkpoints are your loop's business, snapshots do not need them).
    Instruments, at the logged steps: updates=True, each tensor's update/weight ratio ‖Δw‖/‖w‖ of the
        optimizer's step (read at the next call); activations=True, the health of every activation module
        (ReLU family, Tanh, Sigmoid; forward hooks on your model): median |a|, zeros, saturation, dead units.
        sharpness=reportgen.Sharpness(...) with sharpness_batch=(inputs, targets): the loss Hessian's top
        eigenvalue (of P⁻¹H under Adam) and trace on that fixed batch, at the first step and every
        `every` epochs (or `steps` steps), the loss being loss_fn(model(inputs), targets).
    """

    def __init__(self, model: torch.nn.Module, path: str | Path, config=None, *, every: int = 10,
                 snapshots: int | None = 0, checkpoint_every: int = 0, title: str = "", description: str = "",
                 tags: tuple[str, ...] = (), figures: tuple[str, ...] = ("gradient_diagram",),
                 updates: bool = False, activations: bool = False, sharpness: Sharpness | None = None,
                 sharpness_batch=None, loss_fn=F.cross_entropy):
        for name, value, least in (("every", every, 1), ("snapshots", 0 if snapshots is None else snapshots, 0),
                                   ("checkpoint_every", checkpoint_every, 0)):
            if not isinstance(value, int) or value < least:
                raise ValueError(f"Recorder: {name} = {value!r}: allowed: a number of steps >= {least}")
        if sharpness is not None and (not isinstance(sharpness, Sharpness) or sharpness_batch is None):
            raise ValueError(f"Recorder: sharpness = {sharpness!r}: allowed: reportgen.Sharpness(...), with "
                             "sharpness_batch=(inputs, targets)")
        dist = torch.distributed
        self.active = not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
        self.run = None
        if not self.active:
            return
        about = Recorded(name=Path(path).name, title=title, description=description, tags=tags,
                              config=plain(config or {}), figures=figures)
        self.run = Run(Path(path) / run_id(about))
        self._lock = self.run.lock()
        self._lock.__enter__()  # held until close(); the kernel drops it if the process dies first
        shutil.rmtree(self.run.path, ignore_errors=True)
        self.module = unwrap(model)
        self.run.create(about, kind="recorded", env=environment(next(self.module.parameters()).device))
        meter = sharpness and sharpness_meter(sharpness, self.module, *sharpness_batch, loss_fn=loss_fn)
        self.log = StepLog(self.module, self.run, every, updates=updates, activations=activations, sharpness=meter)
        self.snapshots, self.checkpoint_every = snapshots, checkpoint_every
        self.count = self.epochs = 0  # optimizer steps and epochs so far
        self.snapped, self.diverged, self.optimizer = None, None, None
        self.scaled: list[int] = []  # this epoch's steps recorded with a GradScaler
        self._snapshot(0)
        self.run.set_status("running")

    def step(self, loss, optimizer: torch.optim.Optimizer | None = None, *, accuracy=None, scaler=None,
             lr: float | None = None) -> None:
        """Record one optimizer step: call after backward, before optimizer.step(). `loss`, `accuracy`:
        tensors (kept on the device) or numbers; `lr`: the optimizer's first group's unless given."""
        if not self.active:
            return
        self.count += 1
        if self.snapshots and (self.count - 1) % self.snapshots == 0:
            self._snapshot(self.count - 1)  # the weights now are those after the previous step
        self.optimizer = optimizer or self.optimizer
        if lr is None:
            lr = self.optimizer.param_groups[0]["lr"] if self.optimizer else math.nan
        if scaler is not None:
            self.scaled.append(self.count)
        meter = self.log.meter
        if meter and (self.count == 1 or meter.steps and (self.count - 1) % meter.steps == 0):
            self.log.sharpness(self.count - 1, self.optimizer, float(lr))   # of the weights before this step
        device = self.log.params[0].device
        self.log.step(self.count, on(device, loss), on(device, math.nan if accuracy is None else accuracy),
                      float(lr), scale_of(scaler, self.optimizer))

    def epoch(self, **scalars) -> None:
        """End an epoch, or any stretch of steps you choose (each is one frame of the figures): write what
        was recorded since the last one, with your scalars (numbers or 0-d tensors) as epoch_<name>.
        With no step since the last one it writes nothing."""
        if not self.active or not self.log.steps:
            return
        self.epochs += 1
        if self.log.meter and self.log.meter.due(epoch=self.epochs) and self.optimizer:
            self.log.sharpness(self.count, self.optimizer, float(self.optimizer.param_groups[0]["lr"]))
        chunk = self.log.epoch(self.epochs, **{k: float(v) for k, v in scalars.items()})
        skipped = np.isin(chunk["step"], self.scaled) & ~np.isfinite(chunk["grad_norm"])
        if skipped.any():
            chunk = without(chunk, chunk["step"][skipped])
            self.run.write_epoch(self.epochs, **chunk)
        self.scaled = []
        bad = diverged_at(chunk)
        self.diverged = self.diverged or bad
        self._snapshot(self.count)
        if self.checkpoint_every and self.epochs % self.checkpoint_every == 0:
            self._checkpoint()
        self.run.set_status("running", self.epochs, self.count)

    def close(self, error: BaseException | None = None) -> None:
        """Write what is left as a last epoch, the final snapshot and the status: complete; diverged (a loss
        or gradient norm became NaN/inf; the message names the first such step); or failed with `error`."""
        if not self.active or self._lock is None:
            return
        self.epoch()
        self._snapshot(self.count)
        if self.log.acts:   # the model is the user's: leave it without our hooks
            self.log.acts.remove()
        if error is not None:
            self.run.set_status("failed", self.epochs, self.count, f"{type(error).__name__}: {error}")
            write_bytes(self.run.path / "error.txt", "".join(traceback.format_exception(error)).encode())
        elif self.diverged:
            self.run.set_status("diverged", self.epochs, self.diverged,
                                f"loss or gradient became NaN/inf at step {self.diverged}")
        else:
            self.run.set_status("complete", self.epochs, self.count)
        self._lock.__exit__(None, None, None)
        self._lock = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, kind, error, tb) -> None:
        self.close(error)

    def _snapshot(self, step: int) -> None:
        if self.snapshots is not None and step != self.snapped:
            self.log.snapshot(step)
            self.snapped = step

    def _checkpoint(self) -> None:
        buf = io.BytesIO()
        torch.save({"model": self.module.state_dict(), "epoch": self.epochs, "step": self.count,
                    "optimizer": self.optimizer.state_dict() if self.optimizer else None}, buf)
        write_bytes(self.run.checkpoint, buf.getvalue())


def on(device: torch.device, value) -> torch.Tensor:
    """A tensor or number as a 0-d tensor on `device`: a number is filled in there (a copy of it from the
    host would wait for the device)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(device)
    return torch.full((), float(value), device=device)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside torch.compile / DistributedDataParallel / DataParallel wrappers: the same
    parameters, named without the wrappers' `_orig_mod.` and `module.` prefixes."""
    while True:
        if hasattr(model, "_orig_mod"):  # torch.compile's OptimizedModule
            model = model._orig_mod
        elif isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
            model = model.module
        else:
            return model


def scale_of(scaler, optimizer) -> torch.Tensor | None:
    """1 / the scaler's scale (on the device, as unscale_ computes it) while it still scales the gradients."""
    if scaler is None or not scaler.is_enabled() or scaler._get_scale_async() is None:
        return None
    # private, but the only record of whether scaler.unscale_(optimizer) already ran in this step
    stage = scaler._per_optimizer_states.get(id(optimizer), {}).get("stage")
    if stage is OptState.UNSCALED:
        return None
    return scaler._get_scale_async().double().reciprocal().float()


def without(chunk: dict[str, np.ndarray], steps: np.ndarray) -> dict[str, np.ndarray]:
    """An epoch chunk without the given steps."""
    keep, logged = ~np.isin(chunk["step"], steps), ~np.isin(chunk["grad_step"], steps)
    return {k: v[logged] if k in GRAD_KEYS else v[keep] if k in STEP_KEYS else v for k, v in chunk.items()}


def plain(config) -> dict:
    """A dict, dataclass or argparse.Namespace as JSON data; values JSON cannot hold become their text."""
    if dataclasses.is_dataclass(config):
        config = dataclasses.asdict(config)
    elif not isinstance(config, Mapping):
        config = vars(config)
    return json.loads(json.dumps(dict(config), default=str))
