"""One fixed figure, redrawn per frame only where it moves, streamed to GIF/MP4/PNG encoders in parallel."""
from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import pickle
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Protocol

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..store.io import naming
from .encode import ENCODERS, SAMPLE_FRAMES, Encoder
from .style import Style


PARALLEL_MIN_FRAMES = 24  # below this, starting worker processes costs more than it saves


def _check(what: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(allowed)}")


class Animation(Protocol):
    """A figure and how frame i looks. update(i) sets everything that depends on i, whatever frame came
    before (workers start mid-way). Artists that move should be `animated=True`: only they are redrawn,
    in zorder, over a cached background of the rest (so they lie on top of spines and grid); changing any
    other artist redraws the whole figure for that frame. label(i), where a figure has more than one frame,
    says in a few words what frame i shows ("epoch 17", "rank 12"): the GIF carries it beside the frame, for
    the site's frame player."""
    fig: Figure
    n_frames: int

    def update(self, i: int) -> None: ...

    def label(self, i: int) -> str: ...


class _Player:
    """Draws the frames of one animation on its one figure, redrawing only the animated artists."""

    def __init__(self, make: Callable[[Style], Animation], style: Style):
        self.anim = make(style)
        self.fig = self.anim.fig
        if self.anim.n_frames < 1:
            raise ValueError(f"an animation needs n_frames >= 1, got {self.anim.n_frames}")
        if not isinstance(self.fig.canvas, FigureCanvasAgg):
            FigureCanvasAgg(self.fig)
        self.moving = sorted((a for a in self.fig.findobj() if a.get_animated()), key=lambda a: a.zorder)
        shape = self.frame(0).shape
        if shape[1::-1] != style.size:
            raise ValueError(f"figure is {shape[1]}x{shape[0]} px, preset {style.preset!r} is "
                             f"{style.size[0]}x{style.size[1]}; build it with style.figure()")
        self.fig.set_layout_engine("none")  # keep frame 0's layout: axes must not jump between frames

    def frame(self, i: int) -> np.ndarray:
        """Frame i as an [H, W, 4] view of the canvas, valid until the next frame is drawn."""
        self.anim.update(i)
        canvas = self.fig.canvas
        if self.fig.stale or not self.moving:  # animated artists do not make their figure stale
            canvas.draw()
            self._background = canvas.copy_from_bbox(self.fig.bbox)
        else:
            canvas.restore_region(self._background)
        renderer = canvas.get_renderer()
        for artist in self.moving:
            artist.draw(renderer)
        return np.asarray(canvas.buffer_rgba())


def _packed(player: _Player, encoders: list[Encoder], start: int, stop: int) -> Iterator[list[bytes]]:
    """Each encoder's bytes for frames start..stop-1; the frame before `start` primes encoders that
    depend on the previous frame, so a slice encodes exactly as it would in one run."""
    for i in range(max(start - 1, 0), stop):
        rgba = player.frame(i)
        data = [e.pack(i, rgba) for e in encoders]
        if i >= start:
            yield data


def _render_slice(make, style: Style, blob: bytes, start: int, stop: int, path: str) -> None:
    """Worker: render frames start..stop-1 into a file of compressed records, one per frame."""
    if "torch" in sys.modules:  # a forked child cannot use the OpenMP pool torch left in the parent: it hangs
        sys.modules["torch"].set_num_threads(1)
    with mpl.rc_context(style.rc()), naming(path), open(path, "wb") as f:
        for data in _packed(_Player(make, style), pickle.loads(blob), start, stop):
            pickle.dump([zlib.compress(d, 1) for d in data], f)


def _records(path: str) -> Iterator[list[bytes]]:
    with open(path, "rb") as f:
        while f.peek(1):
            yield [zlib.decompress(d) for d in pickle.load(f)]


def _slices(n: int, jobs: int) -> list[tuple[int, int]]:
    k = min(jobs, n // (PARALLEL_MIN_FRAMES // 2)) if n >= PARALLEL_MIN_FRAMES else 1
    edges = np.linspace(0, n, max(k, 1) + 1).round().astype(int)
    return list(zip(edges[:-1], edges[1:]))


def _from_worker(future, path: str) -> Iterator[list[bytes]]:
    future.result()
    yield from _records(path)
    os.unlink(path)  # free the disk as soon as a slice is written


def _write(encoders: list[Encoder], frames: Iterable[list[bytes]]) -> None:
    """Stream every frame's bytes into the encoders, then move the files into place; on any failure
    remove every temporary file and leave existing outputs untouched. A full disk names the output."""
    opened = []
    try:
        for e in encoders:
            with naming(e.target):
                e.open()
            opened.append(e)
        for data in frames:
            for e, d in zip(encoders, data):
                with naming(e.target):
                    e.write(d)
        for e in encoders:
            with naming(e.target):
                e.close()
    except BaseException:
        for e in opened:
            e.abort()
        raise
    for e in encoders:
        os.replace(e.tmp, e.target)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _context():
    # fork starts a worker without importing matplotlib again; workers fork before any output is open
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def render(make: Callable[[Style], Animation], out: Path, formats=("gif", "png"), style: Style = Style(),
           jobs: int | None = None) -> dict[str, Path]:
    """Render the animation `make(style)` to `out`.<format> for each format, each written atomically.
    `make` must pickle (a module-level class, or a functools.partial of one): from PARALLEL_MIN_FRAMES
    frames on, `jobs` processes (default: every core; 1: this one only) each rebuild the figure and render
    a contiguous slice of frames, streamed in order into the encoders: output is the same for any jobs."""
    for f in formats:
        _check("format", f, ENCODERS)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with mpl.rc_context(style.rc()), tempfile.TemporaryDirectory(prefix="reportgen-") as tmp:
        player = _Player(make, style)
        n = player.anim.n_frames
        labels = [player.anim.label(i) for i in range(n)] if hasattr(player.anim, "label") else []
        encoders = [ENCODERS[f](style, n, out.with_name(f"{out.name}.{f}"), labels) for f in formats]
        sample = np.unique(np.linspace(0, n - 1, min(n, SAMPLE_FRAMES)).round().astype(int))
        for e in encoders:
            e.fit(player.frame(i) for i in sample)
        first, *rest = [(n - 1, n)] if all(e.last_only for e in encoders) else _slices(n, jobs or _cores())
        blob = pickle.dumps(encoders)
        with ProcessPoolExecutor(len(rest), _context()) if rest else contextlib.nullcontext() as pool:
            # the parent renders the first slice itself while workers render the others
            parts = [_from_worker(pool.submit(_render_slice, make, style, blob, a, b, f"{tmp}/{a}"),
                                  f"{tmp}/{a}") for a, b in rest]
            _write(encoders, itertools.chain(_packed(player, encoders, *first), *parts))
    return {e.suffix: e.target for e in encoders}
