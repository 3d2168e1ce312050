"""The training loop: device, seeds, data kept on the device, resume from checkpoints, divergence."""
from __future__ import annotations

import io
import math
import platform
import random
import subprocess
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import __version__, data, models, optim, spec
from .record import Recorder, auto_every
from .rundir import Run, write_bytes


def pick_device(name: str) -> torch.device:
    """`auto`: CUDA, then MPS, then CPU; otherwise the named device."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def environment(device: torch.device) -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"reportgen": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "platform": platform.platform(terse=True), "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
            or platform.machine(), "threads": torch.get_num_threads(), "commit": commit}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def snapshot_steps(exp: spec.Experiment, steps_per_epoch: int) -> set[int]:
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


def train(exp: spec.Experiment, run: Run, progress=None) -> str:
    """Train `exp` into `run`, resuming from its checkpoint if there is one. Returns the final state."""
    device = pick_device(exp.device)
    seed_everything(exp.seed)
    ds = data.load(exp.data)
    x_train, y_train = ds.x_train.to(device), ds.y_train.to(device)
    x_test, y_test = ds.x_test.to(device), ds.y_test.to(device)
    model = models.build(exp.model, tuple(ds.x_train.shape[1:]), len(ds.classes)).to(device)
    opt = optim.build(exp.optimizer, model.parameters())
    per_epoch = math.ceil(len(x_train) / exp.batch_size)
    total = per_epoch * exp.epochs
    sched = optim.schedule(exp.optimizer, opt, total)
    order = torch.Generator(device="cpu").manual_seed(exp.seed)
    every = exp.record.every or auto_every(sum(1 for _ in model.parameters()), total, exp.record.disk_mb)
    if not run.exists():
        run.create(exp, env=environment(device))
    rec = Recorder(model, run, every, snapshot_steps(exp, per_epoch))
    start = resume(run, model, opt, sched, order)
    if start == 0:
        rec.snapshot(0)
    step = start * per_epoch
    run.set_status("running", start, step)
    for epoch in range(start + 1, exp.epochs + 1):
        perm = torch.randperm(len(x_train), generator=order).to(device)
        for i in range(per_epoch):
            idx = perm[i * exp.batch_size:(i + 1) * exp.batch_size]
            out = model(x_train[idx])
            loss = F.cross_entropy(out, y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            step += 1
            rec.step(step, loss, (out.argmax(1) == y_train[idx]).float().mean(), sched.get_last_lr()[0])
            opt.step()
            sched.step()
            if step in rec.snapshot_steps:
                rec.snapshot(step)
            if progress:
                progress(1)
        test_loss, test_acc = evaluate(model, x_test, y_test)
        chunk = rec.epoch(epoch, test_loss=test_loss, test_accuracy=test_acc)
        chunk_ok = np.isfinite(chunk["loss"]).all() and np.isfinite(chunk["grad_norm"]).all()
        if not chunk_ok:
            bad = int(chunk["step"][~(np.isfinite(chunk["loss"]) & np.isfinite(chunk["grad_norm"]))][0])
            run.set_status("diverged", epoch, bad, f"loss or gradient became NaN/inf at step {bad}")
            return "diverged"
        if epoch % exp.record.checkpoint_every == 0 or epoch == exp.epochs:
            save_checkpoint(run, model, opt, sched, order, epoch, step)
        run.set_status("running" if epoch < exp.epochs else "complete", epoch, step)
    return "complete"


def save_checkpoint(run: Run, model, opt, sched, order, epoch: int, step: int) -> None:
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "order": order.get_state(), "torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                "python": random.getstate(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available()
                else None, "epoch": epoch, "step": step}, buf)
    write_bytes(run.checkpoint, buf.getvalue())


def resume(run: Run, model, opt, sched, order) -> int:
    """Load the checkpoint if there is one, drop what was written after it, and return its epoch."""
    state = {"epoch": 0, "step": 0}
    if run.checkpoint.exists():
        state = torch.load(run.checkpoint, map_location="cpu", weights_only=False)
        restore(state, model, opt, sched, order)
    for f in run.epoch_files():
        if int(f.stem) > state["epoch"]:
            f.unlink()
    for s, p in run.snapshots():
        if s > state["step"] or (s == 0 and state["step"] == 0):
            p.unlink()
    return state["epoch"]


def restore(state: dict, model, opt, sched, order) -> None:
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    order.set_state(state["order"])
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
