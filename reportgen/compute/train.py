"""The training loop: data kept on the device, resume from checkpoints, clipping, divergence."""
from __future__ import annotations

import copy
import io
import math

import torch
import torch.nn.functional as F
from torch.nn.utils import clip_grads_with_norm_

from ..declare import Experiment
from ..store.io import write_bytes
from ..store.rundir import Run
from . import data, models, optim
from .runtime import environment, pick_device, rng_states, seed_everything, set_rng_states
from .sharpness import meter
from .stats import global_norm
from .steplog import StepLog, auto_every, clip_warning, diverged_at


def snapshot_steps(exp: Experiment, steps_per_epoch: int) -> set[int]:
    """Dense in the first epoch (the talk's preparatory phase), then every `snapshot_every` epochs."""
    first = {round(i * steps_per_epoch / exp.record.snapshots) for i in range(exp.record.snapshots + 1)} \
        if exp.record.snapshots else {0}
    later = {e * steps_per_epoch for e in range(1, exp.epochs + 1) if e % exp.record.snapshot_every == 0}
    return first | later | {exp.epochs * steps_per_epoch}


@torch.no_grad()
def evaluate(model, x, y, batch: int = 1024) -> tuple[float, float]:
    model.eval()
    loss, correct = torch.zeros((), device=x.device), torch.zeros((), device=x.device)
    for i in range(0, len(x), batch):
        out = model(x[i:i + batch])
        loss += F.cross_entropy(out, y[i:i + batch], reduction="sum")
        correct += (out.argmax(1) == y[i:i + batch]).sum()
    model.train()
    return (loss / len(x)).item(), (correct / len(x)).item()


def train(exp: Experiment, run: Run, progress=None, final: str = "complete") -> str:
    """Train `exp` into `run`, resuming from its checkpoint if there is one. Returns "complete" or "diverged";
    a finished run's status is `final` ("running" when a later stage still has to write to it)."""
    device = pick_device(exp.device)
    seed_everything(exp.seed)
    ds = data.load(exp.data)
    x_train, y_train = ds.x_train.to(device), ds.y_train.to(device)
    x_test, y_test = ds.x_test.to(device), ds.y_test.to(device)
    model = models.build(exp.model, tuple(ds.x_train.shape[1:]), len(ds.classes), ds.vocab).to(device)
    models.check_output(exp.model, model, x_train, len(ds.classes))
    opt = optim.build(exp.optimizer, model.parameters())
    per_epoch = math.ceil(len(x_train) / exp.batch_size)
    total = per_epoch * exp.epochs
    sched = optim.schedule(exp.optimizer, opt, total, exp.schedule)
    order = torch.Generator(device="cpu").manual_seed(exp.seed)
    every = exp.record.every or auto_every(sum(1 for _ in model.parameters()), total, exp.record.disk_mb)
    if not run.exists():
        run.create(exp, env=environment(device))
    r = exp.record
    sharpness = meter(r.sharpness, model, x_train, y_train, exp.seed) if r.sharpness else None
    start, clip = resume(run, model, opt, sched, order, sharpness)
    if start == 0 and exp.clip is not None:
        clip = exp.clip.threshold if exp.clip.threshold != "auto" else probe_clip(exp, model, x_train, y_train,
                                                                                   order, total)
    rec = StepLog(model, run, every, snapshot_steps(exp, per_epoch), clip, updates=r.updates,
                  activations=r.activations, start=start * per_epoch, sharpness=sharpness)
    if start == 0:
        rec.snapshot(0)
        if rec.meter:
            rec.sharpness(0, opt, sched.get_last_lr()[0])
    step = start * per_epoch
    run.set_status("running", start, step)
    for epoch in range(start + 1, exp.epochs + 1):
        step = train_steps(model, opt, sched, rec, x_train, y_train,
                           batches(len(x_train), exp.batch_size, order, device), step, clip, progress)
        if rec.meter and rec.meter.due(epoch=epoch):
            rec.sharpness(step, opt, sched.get_last_lr()[0])
        test_loss, test_acc = evaluate(model, x_test, y_test)
        chunk = rec.epoch(epoch, test_loss=test_loss, test_accuracy=test_acc,
                         clip=math.nan if clip is None else clip)
        bad = diverged_at(chunk)
        if bad is not None:
            run.set_status("diverged", epoch, bad, f"loss or gradient became NaN/inf at step {bad}")
            return "diverged"
        if epoch % exp.record.checkpoint_every == 0 or epoch == exp.epochs:
            save_checkpoint(run, model, opt, sched, order, epoch, step, clip, rec.meter)
        if epoch < exp.epochs:
            run.set_status("running", epoch, step)
    # also reached by a run killed after its last checkpoint: resuming it only writes its final status
    run.set_status(final, exp.epochs, step, clip_warning(run.epochs(exp.epochs)["clipped"], clip))
    return "complete"


def train_steps(model, opt, sched, rec: StepLog, x, y, epoch_batches, step: int, clip: float | None,
                progress=None) -> int:
    """One epoch's steps, recorded by `rec`; returns the last step's number. Nothing in them reads the device
    back to the host but the weight snapshots: the measurements wait on the device for `rec.epoch`."""
    for idx in epoch_batches:
        out, loss = forward_backward(model, opt, x[idx], y[idx])
        step += 1
        norm = rec.step(step, loss, (out.argmax(1) == y[idx]).float().mean(), sched.get_last_lr()[0])
        if clip is not None:  # after recording: the log keeps the unclipped norm
            clip_grads_with_norm_(model.parameters(), clip, norm)
        opt.step()
        rec.stepped()
        sched.step()
        if rec.meter and rec.meter.due(step=step):
            rec.sharpness(step, opt, sched.get_last_lr()[0])
        if step in rec.snapshot_steps:
            rec.snapshot(step)
        if progress:
            progress(1)
    return step


def batches(n: int, batch_size: int, order: torch.Generator, device) -> list[torch.Tensor]:
    """One epoch's sample indices, shuffled by `order`, in batches (the last one may be smaller)."""
    return torch.randperm(n, generator=order).to(device).split(batch_size)


def forward_backward(model, opt, x, y) -> tuple[torch.Tensor, torch.Tensor]:
    out = model(x)
    loss = F.cross_entropy(out, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    return out, loss


def probe_clip(exp: Experiment, model, x, y, order: torch.Generator, total: int) -> float:
    """Clip.threshold "auto": the 90th percentile of the unclipped gradient norms over the run's first
    `probe` steps, trained on copies (model, optimizer, schedule, data order) that are then thrown away.
    The RNG states are put back, so the run clips from its first step and stays deterministic; the
    threshold is saved with each checkpoint, so a resumed run does not probe again."""
    saved = rng_states()
    model = copy.deepcopy(model)
    opt = optim.build(exp.optimizer, model.parameters())
    sched = optim.schedule(exp.optimizer, opt, total, exp.schedule)
    order = torch.Generator().set_state(order.get_state())
    n, norms = min(exp.clip.probe, total), []
    while len(norms) < n:
        for idx in batches(len(x), exp.batch_size, order, x.device)[:n - len(norms)]:
            forward_backward(model, opt, x[idx], y[idx])
            norms.append(global_norm([p.grad for p in model.parameters() if p.grad is not None]))
            opt.step()
            sched.step()
    set_rng_states(saved)
    norms = torch.stack(norms)
    finite = norms[torch.isfinite(norms)]
    return float(torch.quantile(finite.double(), 0.9)) if finite.numel() else math.inf


def save_checkpoint(run: Run, model, opt, sched, order, epoch: int, step: int, clip: float | None,
                    sharpness=None) -> None:
    """The run's state after `epoch`, written atomically; with the sharpness Meter's warm start and generator."""
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "order": order.get_state(), **rng_states(), "epoch": epoch, "step": step, "clip": clip,
                **({"sharpness": sharpness.state()} if sharpness else {})}, buf)
    write_bytes(run.checkpoint, buf.getvalue())


def resume(run: Run, model, opt, sched, order, sharpness=None) -> tuple[int, float | None]:
    """Load the checkpoint if there is one (into the sharpness Meter too, if it saved one's state), drop what
    was written after it, and return its epoch and clipping threshold."""
    state = {"epoch": 0, "step": 0}
    if run.checkpoint.exists():
        state = run.read_checkpoint()
        restore(state, model, opt, sched, order)
        if sharpness and "sharpness" in state:
            sharpness.restore(state["sharpness"])
    for f in reversed(run.epoch_files()):  # from the last: a kill in between leaves no gap
        if int(f.stem) > state["epoch"]:
            f.unlink()
    for s, p in run.snapshots():
        if s > state["step"] or (s == 0 and state["step"] == 0):
            p.unlink()
    return state["epoch"], state.get("clip")


def restore(state: dict, model, opt, sched, order) -> None:
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    order.set_state(state["order"])
    set_rng_states(state)
