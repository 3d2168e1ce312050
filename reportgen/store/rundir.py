"""The run directory: the only contract between computing and drawing. Written atomically, versioned.

Format 1 (`runs/<experiment>/<run-id>/`):

    config.json         {"format": 1, "id", "kind": "train" | "recorded" | a demo's kind, "experiment": the
                        resolved spec (a recorded run's: declare.Recorded, holding the loop's own config dict)}
    env.json            versions of python/torch/numpy/reportgen, device name, git commit, host platform
    status.json         {"state": running|complete|diverged|failed, "epoch", "step", "message", "updated"}
    params.json         [{"name", "shape", "numel"}] for every named parameter, in network order
    instruments.json    {"activations": [{"name", "kind": relu|saturating}] the hooked modules (act's L axis),
                        "sharpness": "sgd" | "adam" (λ_max of P⁻¹H) | "other"}, when those are recorded
    epochs/NNNNNN.npz   one chunk per finished epoch N (1-based), holding
                          step, loss, accuracy, lr, grad_norm   [S]    every training step
                          clipped [S]    whether grad_norm (unclipped) exceeded the clipping threshold
                          grad_step [G], grad [G, P, len(STATS)]   gradient statistics at logged steps (compute/stats.py)
                          update [G, P]   Record.updates: ‖Δw‖/‖w‖ of the optimizer's step, per tensor, at grad_step
                          act [G, L, len(ACTS)]   Record.activations: per activation module (instruments.json),
                                          the logged step's median |a|, fraction of exact zeros, fraction saturated
                          act_dead [1, L]   fraction of units never positive over the epoch's logged batches
                          sharp_step, sharp, sharp_limit, trace, trace_se [K]   Record.sharpness: after step
                                          sharp_step (0: at initialisation), λ_max (of P⁻¹H for Adam), the
                                          stability limit, the Hessian's trace (Hutchinson) and its standard error
                          epoch_* scalars: test_loss, test_accuracy, clip (the threshold; NaN: none); a
                          recorded run's: whatever its loop gave to Recorder.epoch(), e.g. epoch_val_loss
    trajectory/SSSSSSSSS.npy   all parameters flattened (float32) after step S (0 = initialisation)
    checkpoints/last.pt        model, optimizer, RNG states, step and epoch: enough to resume exactly
    arrays.npz          what a run that trains nothing (a demo) computed for its figures
    landscape.npz       Experiment.landscape's arrays, computed after training (compute/projection.py): per
                        snapshot step, epoch (time in epochs), loss, test_loss [T] (on the evaluation samples);
                        pca, random, mds [T, 2] (θ_final at the origin), pca_explained, mds_explained [2];
                        center_step [C], directions (their normalisation); line_a [A], line_loss, line_test_loss [C, A]; plane_a [P],
                        plane_loss [C, P, P] (rows b, columns a); pca_a, pca_b [Q], pca_plane_loss [Q, Q]
    landscape/          directions.npz (d1, d2 [N] normalised at θ_final, pca [2, N]); the grids' caches
    members/<name>/     a group's (Sweep, Compare) runs, each a run directory as above; the group's arrays.npz
                        lists them (names) with the grid's values and what its figures compare
    compare.npz         a group's runs on one plane (compute/compare.py): names [R] of its runs, per snapshot of
                        any of them owner [T] (index into names), step, epoch, loss (training loss on the group's
                        samples), coords [T, 2] on the PCA of all snapshots together (their mean at the origin),
                        explained [2]; plane_a, plane_b [Q], plane_loss [Q, Q] (rows b) when the runs share model
                        and data; or only `why` no plane holds them. compare/ keeps the plane's cache

Chunks after the checkpoint's epoch are ignored on resume, so a killed run never mixes two timelines.
Beside the folder, `.<run-id>.lock` is held by the one process writing it (`Run.lock`).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..declare import config as declared
from ..declare.spec import SpecError
from .io import RunError, read_json, read_npz, write_json, write_npy, write_npz
from .lock import lock

FORMAT = 1
STATES = ("running", "complete", "diverged", "failed")
# the gradient statistics per tensor, along grad's last axis: log10|g| at percentiles, zero fraction, L2 norm
STATS: tuple[str, ...] = ("median", "q05", "q25", "q75", "q95", "zero_frac", "l2")
# the activation statistics per module, along act's last axis: median |a|, exact zeros, saturated (Tanh, Sigmoid)
ACTS: tuple[str, ...] = ("median", "zero_frac", "saturated")
SHARPNESS = ("sharp_step", "sharp", "sharp_limit", "trace", "trace_se")

INSTRUMENTS = {"updates": "update", "activations": "act", "sharpness": "sharp"}  # quantity -> its array


class Run:
    """A run directory, for writing during a run and for reading afterwards."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # ---- identity ----------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.path.name

    def exists(self) -> bool:
        return (self.path / "config.json").exists()

    def create(self, experiment, kind: str = "train", env: dict | None = None) -> None:
        write_json(self.path / "env.json", env or {})  # config.json last: it marks the run as existing
        write_json(self.path / "config.json", {"format": FORMAT, "id": self.id, "kind": kind,
                                               "experiment": declared.to_dict(experiment)})

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(f".{self.id}.lock")

    def lock(self):
        """The lock held while one process writes this run, so that no two ever write it at once."""
        return lock(self.lock_path, f"another reportgen is running {self.path}")

    def remove_leftovers(self) -> None:
        """Delete the temporary files of writes cut short by a kill (call while holding the lock)."""
        for tmp in self.path.rglob(".*.tmp"):
            tmp.unlink()

    @property
    def meta(self) -> dict:
        meta = read_json(self.path / "config.json")
        if meta.get("format") != FORMAT:
            raise RunError(f"{self.path / 'config.json'}: run format {meta.get('format')!r}, this reportgen "
                           f"reads format {FORMAT}; run it again with `reportgen run --clean`")
        return meta

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def config(self):
        try:
            return declared.from_dict(self.meta["experiment"])
        except SpecError as e:
            raise RunError(f"{self.path / 'config.json'}: {e}") from None

    @property
    def env(self) -> dict:
        return read_json(self.path / "env.json")

    # ---- status ------------------------------------------------------------------------------
    def set_status(self, state: str, epoch: int = 0, step: int = 0, message: str = "") -> None:
        assert state in STATES
        write_json(self.path / "status.json", {"state": state, "epoch": epoch, "step": step,
                                               "message": message, "updated": time.time()})

    @property
    def status(self) -> dict:
        if not (self.path / "status.json").exists():
            return {"state": "missing", "epoch": 0, "step": 0, "message": ""}
        return read_json(self.path / "status.json")

    # ---- parameters and epochs ---------------------------------------------------------------
    def write_params(self, named: list[tuple[str, tuple[int, ...]]]) -> None:
        write_json(self.path / "params.json", [{"name": n, "shape": list(s), "numel": int(np.prod(s))}
                                               for n, s in named])

    @property
    def params(self) -> list[dict]:
        return read_json(self.path / "params.json")

    def write_instruments(self, **about) -> None:
        write_json(self.path / "instruments.json", {**self.instruments, **about})

    @property
    def instruments(self) -> dict:
        path = self.path / "instruments.json"
        return read_json(path) if path.exists() else {}

    def write_epoch(self, epoch: int, **arrays) -> None:
        write_npz(self.path / "epochs" / f"{epoch:06d}.npz", **arrays)

    def epoch_files(self, upto: int | None = None) -> list[Path]:
        files = sorted((self.path / "epochs").glob("[0-9]*.npz"))
        return [f for f in files if upto is None or int(f.stem) <= upto]

    def epochs(self, upto: int | None = None) -> dict[str, np.ndarray]:
        """Every array of every epoch chunk up to epoch `upto` (default: the status's), concatenated along
        time (scalars become one row an epoch, NaN where an epoch did not give one), and epoch_end [E]:
        each epoch's end as an index into the per-step arrays (its steps are [previous end, end)); and
        grad_epoch [G]: the epoch of each logged gradient step."""
        upto = upto or self.status.get("epoch") or None
        files = self.epoch_files(upto)
        numbers = {int(f.stem) for f in files}
        gap = next((n for n in range(1, (upto or max(numbers, default=0)) + 1) if n not in numbers), None)
        if gap is not None:
            raise RunError(f"{self.path / 'epochs' / f'{gap:06d}.npz'}: missing, though the run went on past "
                           f"epoch {gap}; run it again from scratch (`reportgen run --clean`)")
        chunks = [read_npz(f) for f in files]
        if not chunks:
            return {}
        scalars = {k for c in chunks for k, v in c.items() if v.ndim == 0}
        e = {k: np.stack([c.get(k, np.nan) for c in chunks]) if k in scalars else np.concatenate([c[k] for c in chunks])
             for k in dict.fromkeys(k for c in chunks for k in c)}
        e["epoch_end"] = np.cumsum([len(c["step"]) for c in chunks])
        e["grad_epoch"] = np.concatenate([np.full(len(c.get("grad_step", ())), int(f.stem))
                                          for f, c in zip(files, chunks)])
        return e

    # ---- trajectory, checkpoints, arrays -----------------------------------------------------
    def write_snapshot(self, step: int, flat: np.ndarray) -> None:
        write_npy(self.path / "trajectory" / f"{step:09d}.npy", flat.astype(np.float32, copy=False))

    def snapshots(self, upto_step: int | None = None) -> list[tuple[int, Path]]:
        found = [(int(p.stem), p) for p in sorted((self.path / "trajectory").glob("[0-9]*.npy"))]
        return [(s, p) for s, p in found if upto_step is None or s <= upto_step]

    def trajectory(self) -> list[tuple[int, Path]]:
        """The snapshots its readers draw: all, but a diverged run's only up to its divergence (the weights
        after the step whose loss or gradient was NaN/inf hold NaN themselves)."""
        status = self.status
        return self.snapshots(status["step"] - 1 if status["state"] == "diverged" else None)

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoints" / "last.pt"

    def read_checkpoint(self) -> dict:
        import torch
        try:
            return torch.load(self.checkpoint, map_location="cpu", weights_only=False)
        except FileNotFoundError:
            raise RunError(f"{self.checkpoint}: missing") from None
        except Exception as e:  # noqa: BLE001 - a damaged zip or pickle fails in many ways; all mean the same
            raise RunError(f"{self.checkpoint}: corrupt or truncated checkpoint ({type(e).__name__}); "
                           f"delete it to start this run again") from None

    def write_arrays(self, **arrays) -> None:
        write_npz(self.path / "arrays.npz", **arrays)

    def arrays(self) -> dict[str, np.ndarray]:
        return read_npz(self.path / "arrays.npz")

    def write_landscape(self, **arrays) -> None:
        write_npz(self.path / "landscape.npz", **arrays)

    def landscape(self) -> dict[str, np.ndarray]:
        return read_npz(self.path / "landscape.npz")

    def write_compare(self, **arrays) -> None:
        write_npz(self.path / "compare.npz", **arrays)

    def compare(self) -> dict[str, np.ndarray]:
        return read_npz(self.path / "compare.npz")

    def members(self) -> list[Run]:
        """A group's runs, in the order of its arrays (its grid's combinations)."""
        return [Run(self.path / "members" / str(name)) for name in self.arrays()["names"]]

    def has(self, quantity: str) -> bool:
        """Whether the run recorded `quantity` (what figures declare they need)."""
        if quantity == "trajectory":
            return len(self.trajectory()) >= 2
        if quantity == "gradients":  # logged at some step: a recorded loop shorter than its `every` has none
            return any(read_npz(f)["grad_step"].size for f in self.epoch_files())
        if quantity in INSTRUMENTS:
            key = INSTRUMENTS[quantity]
            return any(key in c and c[key].size for c in map(read_npz, self.epoch_files()))
        if quantity == "metrics":
            return bool(self.epoch_files())
        if quantity == "landscape":
            if (self.path / "landscape.npz").exists():
                return True
            if self.status["state"] == "complete" and self.meta["experiment"].get("landscape"):
                raise RunError(f"{self.path / 'landscape.npz'}: missing, though the run declares a landscape "
                               f"and is complete; run it again from scratch (`reportgen run --clean`)")
            return False
        return (self.path / "arrays.npz").exists() and quantity in self.arrays()
