"""A group's runs on one plane: a PCA fitted to every run's weight snapshots together, each snapshot's place and
loss on it, and the loss over that plane around the snapshots' mean (Group.plane), into the group's compare.npz."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.optim.swa_utils import update_bn

from ..declare.sweep import Group
from ..store.rundir import Run
from . import data, directions, landscape, models, trajectory
from .projection import LOSS, Weights, loss_at, spanning
from .runtime import pick_device


def compute(group: Group, runs: list[Run], out: Run) -> None:
    """Write `out`'s compare.npz (its arrays are listed in rundir's docstring); when no one plane can hold the
    runs (too few snapshots, different numbers of weights) it holds `why` instead, which the figure says."""
    paths, owner, steps = [], [], []
    for k, run in enumerate(runs):
        found = run.trajectory()
        if len(found) >= 2:
            paths += [p for _, p in found]
            owner += [k] * len(found)
            steps += [s for s, _ in found]
    why = problem(runs, owner, paths)
    if why:
        out.write_compare(why=np.array(why))
        return
    projection, mean = trajectory.joint_pca(paths)
    owner, steps = np.array(owner), np.array(steps)
    device = pick_device(runs[0].config.device)
    result = {"names": np.array([r.path.name for r in runs]), "owner": owner, "step": steps,
              "coords": projection.coords, "explained": projection.explained,
              "epoch": np.zeros(len(steps)), "loss": np.zeros(len(steps))}
    loaded = {}   # by data spec (its repr: a factory's options are a dict): a group's runs mostly share one
    for k in np.unique(owner):
        exp, mine = runs[k].config, owner == k
        if repr(exp.data) not in loaded:
            loaded[repr(exp.data)] = data.load(exp.data)
        ds = loaded[repr(exp.data)]
        model = models.build(exp.model, tuple(ds.x_train.shape[1:]), len(ds.classes), ds.vocab).to(device)
        weights = Weights(model, runs[k], ds.x_train.to(device), exp.batch_size)
        x, y = (t[:group.samples].to(device) for t in (ds.x_train, ds.y_train))
        result["loss"][mine] = [loss_at(weights.at(s), x, y, False) for s in steps[mine]]
        result["epoch"][mine] = steps[mine] / math.ceil(len(ds.x_train) / exp.batch_size)
    same = all(r.config.model == runs[0].config.model and r.config.data == runs[0].config.data for r in runs)
    if group.plane and same:
        exp = runs[owner[0]].config
        result |= surface(group, exp, loaded[repr(exp.data)], projection, mean, out, device)
    out.write_compare(**result)


def problem(runs: list[Run], owner: list[int], paths: list) -> str:
    """Why no plane holds these runs' snapshots, or ""."""
    if len(set(owner)) < 2:
        return "fewer than two of its runs recorded two or more weight snapshots (Record(snapshots=...))"
    sizes = {sum(p["numel"] for p in r.params) for r in runs if r.params}
    if len(sizes) > 1:
        return f"its runs have different numbers of weights ({min(sizes)} to {max(sizes)}): no one plane holds them"
    return "" if len(paths) >= 4 else "fewer than four weight snapshots in all"


def surface(group: Group, exp, ds, projection, mean: np.ndarray, out: Run, device) -> dict[str, np.ndarray]:
    """The training loss over the joint PCA plane centred at the snapshots' mean, spanning every run's path with a
    margin, on the runs' data `ds`; coefficients are distances along the unit directions, as the coordinates are."""
    model = models.build(exp.model, tuple(ds.x_train.shape[1:]), len(ds.classes), ds.vocab).to(device)
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(torch.from_numpy(mean).to(device), model.parameters())
    if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        update_bn(ds.x_train.to(device).split(exp.batch_size), model)  # the mean holds no running statistics
    a, b = spanning(projection.coords, group.plane)
    x, y = (t[:group.samples].to(device) for t in (ds.x_train, ds.y_train))
    (out.path / "compare").mkdir(exist_ok=True)
    loss = landscape.plane(model, LOSS, x, y, None, *(directions.to_direction(model, d) for d in projection.directions),
                           a, b, cache=out.path / "compare" / "plane.npz").loss
    return {"plane_a": a, "plane_b": b, "plane_loss": loss}
