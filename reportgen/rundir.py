"""The run directory: the only contract between computing and drawing. Written atomically, versioned.

Format 1 (`runs/<experiment>/<run-id>/`):

    config.json         {"format": 1, "id", "kind": "train" | a demo's kind, "experiment": the resolved spec}
    env.json            versions of python/torch/numpy/reportgen, device name, git commit, host platform
    status.json         {"state": running|complete|diverged|failed, "epoch", "step", "message", "updated"}
    params.json         [{"name", "shape", "numel"}] for every named parameter, in network order
    epochs/NNNNNN.npz   one chunk per finished epoch N (1-based), holding
                          step, loss, accuracy, lr, grad_norm   [S]    every training step
                          grad_step [G], grad [G, P, len(stats.STATS)]   gradient statistics at logged steps
                          epoch_* scalars: train_loss, train_accuracy, test_loss, test_accuracy
    trajectory/SSSSSSSSS.npy   all parameters flattened (float32) after step S (0 = initialisation)
    checkpoints/last.pt        model, optimizer, RNG states, step and epoch: enough to resume exactly
    arrays.npz          what a run that trains nothing (a demo) computed for its figures

Chunks after the checkpoint's epoch are ignored on resume, so a killed run never mixes two timelines.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from . import spec

FORMAT = 1
STATES = ("running", "complete", "diverged", "failed")


class RunError(Exception):
    """A run directory that cannot be read: one line naming the file and what is wrong."""


def write_bytes(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj) -> None:
    write_bytes(path, json.dumps(obj, indent=1, allow_nan=True).encode())


def write_npz(path: Path, **arrays) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes(path, buf.getvalue())


def write_npy(path: Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array)
    write_bytes(path, buf.getvalue())


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{path}: corrupt JSON ({e})") from None


def read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise RunError(f"{path}: missing") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise RunError(f"{path}: corrupt or truncated array file ({e})") from None


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
        write_json(self.path / "config.json", {"format": FORMAT, "id": self.id, "kind": kind,
                                               "experiment": spec.to_dict(experiment)})
        write_json(self.path / "env.json", env or {})

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
            return spec.from_dict(self.meta["experiment"])
        except spec.SpecError as e:
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

    def write_epoch(self, epoch: int, **arrays) -> None:
        write_npz(self.path / "epochs" / f"{epoch:06d}.npz", **arrays)

    def epoch_files(self, upto: int | None = None) -> list[Path]:
        files = sorted((self.path / "epochs").glob("[0-9]*.npz"))
        return [f for f in files if upto is None or int(f.stem) <= upto]

    def epochs(self) -> dict[str, np.ndarray]:
        """Every array of every epoch chunk, concatenated along time (scalars become one row an epoch)."""
        chunks = [read_npz(f) for f in self.epoch_files(self.status.get("epoch") or None)]
        if not chunks:
            return {}
        return {k: (np.stack if chunks[0][k].ndim == 0 else np.concatenate)([c[k] for c in chunks])
                for k in chunks[0]}

    # ---- trajectory, checkpoints, arrays -----------------------------------------------------
    def write_snapshot(self, step: int, flat: np.ndarray) -> None:
        write_npy(self.path / "trajectory" / f"{step:09d}.npy", flat.astype(np.float32, copy=False))

    def snapshots(self, upto_step: int | None = None) -> list[tuple[int, Path]]:
        found = [(int(p.stem), p) for p in sorted((self.path / "trajectory").glob("[0-9]*.npy"))]
        return [(s, p) for s, p in found if upto_step is None or s <= upto_step]

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoints" / "last.pt"

    def write_arrays(self, **arrays) -> None:
        write_npz(self.path / "arrays.npz", **arrays)

    def arrays(self) -> dict[str, np.ndarray]:
        return read_npz(self.path / "arrays.npz")

    def has(self, quantity: str) -> bool:
        """Whether the run recorded `quantity` (what figures declare they need)."""
        if quantity == "trajectory":
            return len(self.snapshots()) >= 2
        if quantity in ("gradients", "metrics"):
            return bool(self.epoch_files())
        return (self.path / "arrays.npz").exists() and quantity in self.arrays()
