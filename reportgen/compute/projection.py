"""A trained run's loss landscapes and trajectory projections (Experiment.landscape), computed from its
weight snapshots and checkpoint with the landscape engine and stored in landscape.npz for the figures.

Every grid is cached under landscape/ as its chunks finish, so a run killed while computing them
continues where it stopped. Evaluation is in eval mode: dropout off, batch norm with running statistics
(the checkpoint's at the final weights; re-estimated over the training set at any other snapshot, which
stores parameters only), or with each point's own batch statistics when `recompute_bn`.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn
from torch.func import replace_all_batch_norm_modules_
from torch.optim.swa_utils import update_bn

from .. import declare as spec
from ..store.io import read_npy, write_npz
from ..store.rundir import Run
from . import data, directions, landscape, models, trajectory
from .runtime import pick_device
from .train import evaluate

LOSS = nn.CrossEntropyLoss()
MARGIN = 0.2  # the PCA plane reaches this share of the path's extent beyond it on every side


def compute(exp: spec.Experiment, run: Run, part: tuple[int, int] | None = None) -> None:
    """Write landscape.npz (its arrays are listed in rundir's docstring) and landscape/directions.npz. With
    `part` (k, n): only the k-th of n shares of every plane's points, into their part caches (a cluster
    unit's work; the whole computation then merges them and computes the rest)."""
    cfg, device, folder = exp.landscape, pick_device(exp.device), run.path / "landscape"
    folder.mkdir(exist_ok=True)
    ds = data.load(exp.data)
    model = models.build(exp.model, tuple(ds.x_train.shape[1:]), len(ds.classes), ds.vocab).to(device)
    weights = Weights(model, run, ds.x_train.to(device), exp.batch_size)
    train = ds.x_train[:cfg.samples].to(device), ds.y_train[:cfg.samples].to(device)
    test = ds.x_test[:cfg.samples].to(device), ds.y_test[:cfg.samples].to(device)
    steps = np.array(list(weights.paths))
    per_epoch = math.ceil(len(ds.x_train) / exp.batch_size)
    out, saved = {"step": steps, "epoch": steps / per_epoch}, {}
    out |= projections(list(weights.paths.values()), saved, pca_only=part is not None)
    if part is None:
        losses = [[loss_at(weights.at(s), *split, cfg.recompute_bn) for split in (train, test)] for s in steps]
        out["loss"], out["test_loss"] = np.array(losses).T
    centers = {"final": steps[-1:], "ends": steps[[0, -1]], "epochs": steps[steps % per_epoch == 0]}[cfg.around]
    out |= grids(cfg, weights, centers, train, test, folder, saved, part)
    if "pca" in out and cfg.pca_plane and cfg.plane:
        out |= pca_plane(cfg, weights, out["pca"], saved["pca"], train, folder, part)
    if part is not None:
        return
    write_npz(folder / "directions.npz", **saved)
    run.write_landscape(**out)


class Weights:
    """Puts the model at any snapshot of the run: the parameters, and batch norm's running statistics."""

    def __init__(self, model, run: Run, x_train, batch_size: int):
        self.model, self.run, self.x, self.batch_size = model, run, x_train, batch_size
        self.paths = dict(run.snapshots())
        self.final = max(self.paths)
        self.bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())

    def at(self, step: int) -> nn.Module:
        if step == self.final:  # the checkpoint also holds the statistics the run ended with
            self.model.load_state_dict(self.run.read_checkpoint()["model"])
            return self.model
        flat = torch.from_numpy(read_npy(self.paths[step])).to(self.x.device)
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(flat, self.model.parameters())
        if self.bn:  # a training-mode pass over the training set, as torch's SWA does for its average
            update_bn(self.x.split(self.batch_size), self.model)
        return self.model


def projections(paths, saved: dict, pca_only: bool = False) -> dict[str, np.ndarray]:
    """The trajectory in 2-D: PCA (from 4 snapshots on; its directions go to `saved`), a seeded random
    projection and classical MDS (unless `pca_only`), each streamed from the snapshot files."""
    out = {}
    if not pca_only:
        rand, mds = trajectory.random_projection(paths), trajectory.mds(paths)
        out |= {"random": rand.coords, "mds": mds.coords, "mds_explained": mds.explained}
    if len(paths) >= 4:
        pca = trajectory.pca(paths)
        out |= {"pca": pca.coords, "pca_explained": pca.explained}
        saved["pca"] = pca.directions
    return out


def loss_at(model, X, y, recompute_bn: bool) -> float:
    """The loss at the model's weights as the engine defines it at a grid point: in eval mode, on all of X
    at once, so that with `recompute_bn` batch norm normalises with the statistics of X."""
    if recompute_bn:
        model = copy.deepcopy(model)
        replace_all_batch_norm_modules_(model)
    return evaluate(model, X, y, batch=len(X))[0]


def random_pair(cfg: spec.Landscape, model) -> list[list[torch.Tensor]]:
    """d1, d2: the same Gaussian draws at every centre, normalised to the centre's own weights."""
    gen = torch.Generator().manual_seed(cfg.seed)
    return [directions.random_direction(model, gen, cfg.directions, cfg.include_1d) for _ in range(2)]


def grids(cfg: spec.Landscape, weights: Weights, centers, train, test, folder, saved: dict,
          part=None) -> dict[str, np.ndarray]:
    """Lines (train and held-out) and planes (train) around every centre; d1 and d2 of the last go to `saved`.
    With `part`, only that share of the planes (the lines are too small to split)."""
    if not (cfg.line or cfg.plane) or (part and not cfg.plane):
        return {}
    line_a, plane_a = np.linspace(-cfg.span, cfg.span, cfg.line), np.linspace(-cfg.span, cfg.span, cfg.plane)
    lines, tests, planes, opts = [], [], [], {"recompute_bn": cfg.recompute_bn}
    for c in centers:
        model = weights.at(c)
        d1, d2 = random_pair(cfg, model)
        if cfg.line and not part:
            lines.append(landscape.line(model, LOSS, *train, None, d1, line_a, cache=folder / f"line-{c}.npz",
                                        **opts).loss)
            tests.append(landscape.line(model, LOSS, *test, None, d1, line_a, cache=folder / f"test-{c}.npz",
                                        **opts).loss)
        if cfg.plane:
            planes.append(landscape.plane(model, LOSS, *train, None, d1, d2, plane_a, plane_a,
                                          cache=folder / f"plane-{c}.npz", part=part, **opts).loss)
    saved |= {name: torch.cat([t.reshape(-1) for t in d]).float().cpu().numpy()
              for name, d in zip(("d1", "d2"), (d1, d2))}
    out = {"center_step": np.asarray(centers), "directions": np.array(cfg.directions)}
    if cfg.line and not part:
        out |= {"line_a": line_a, "line_loss": np.stack(lines), "line_test_loss": np.stack(tests)}
    if cfg.plane:
        out |= {"plane_a": plane_a, "plane_loss": np.stack(planes)}
    return out


def pca_plane(cfg: spec.Landscape, weights: Weights, coords, pcs, train, folder, part=None) -> dict[str, np.ndarray]:
    """The loss over the trajectory's PCA plane around the final weights, spanning the path with a margin
    (Li et al. 2018, §7): coefficients are distances along the unit PCA directions, as the coordinates are."""
    model = weights.at(weights.final)
    a, b = spanning(coords, cfg.plane)
    loss = landscape.plane(model, LOSS, *train, None, *(directions.to_direction(model, d) for d in pcs), a, b,
                           recompute_bn=cfg.recompute_bn, cache=folder / "pca-plane.npz", part=part).loss
    return {"pca_a": a, "pca_b": b, "pca_plane_loss": loss}


def spanning(coords: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    """A plane's coefficients along each axis: `points` from below the path's least coordinate to above its
    greatest, by MARGIN of its extent (a thousandth of the longer axis's at least)."""
    lo, hi = coords.min(0), coords.max(0)
    pad = MARGIN * np.maximum(hi - lo, 1e-3 * (hi - lo).max())
    return tuple(np.linspace(lo[k] - pad[k], hi[k] + pad[k], points) for k in range(2))
