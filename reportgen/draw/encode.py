"""Encoders that stream RGBA frames into GIF, MP4 and PNG files, registered by name."""
from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import secrets
import struct
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import imageio_ffmpeg
import numpy as np
from matplotlib.colors import to_rgba_array
from PIL import GifImagePlugin, Image

from ..registry import Registry
from .labels import comment

if TYPE_CHECKING:
    from .style import Style

ENCODERS = Registry("format")


def alive(pid: int) -> bool:
    """Whether process `pid` still runs (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def encoder(name: str):
    """Register the decorated Encoder class as the format `name` (also its file suffix)."""
    def register(cls: type[Encoder]) -> type[Encoder]:
        cls.suffix = name
        return ENCODERS.register(name, cls)
    return register


class Encoder:
    """One output file, written to a temporary file beside `target` (the caller moves it into place).
    `fit`, `open`, `write`, `close` run in the parent; `pack` turns frame i into the bytes to write and may
    run in a worker process, which calls it in frame order starting one frame before its slice. `labels`:
    what each frame shows, in words (empty: the figure says nothing)."""
    suffix: str
    last_only = False  # needs only the last frame

    def __init__(self, style: Style, n_frames: int, target: Path, labels: list[str] = ()):
        self.style, self.n, self.target, self.labels = style, n_frames, target, list(labels)

    def fit(self, sample: Iterator[np.ndarray]) -> None:
        """Sees a sample of frames before any pack; only encoders that need one consume it."""

    def pack(self, i: int, rgba: np.ndarray) -> bytes:
        raise NotImplementedError

    def open(self) -> None:
        # not mkstemp: its 0600 mode would follow the file into the published site. The writer's pid in the
        # name lets a later render delete what a killed one left, and nothing a live one is writing
        for part in self.target.parent.glob(f".{self.target.name}.*.part"):
            writer = re.fullmatch(rf"\.{re.escape(self.target.name)}\.(\d+)-\w+\.part", part.name)
            if not writer or not alive(int(writer[1])):
                part.unlink(missing_ok=True)
        self.tmp = self.target.with_name(f".{self.target.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
        self._file = open(self.tmp, "xb")

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def close(self) -> None:
        self._file.close()

    def abort(self) -> None:
        with contextlib.suppress(OSError):  # a full disk refuses the rest of the buffer too: the file goes anyway
            self._file.close()
        self.tmp.unlink(missing_ok=True)


@encoder("png")
class Png(Encoder):
    """The last frame, the poster image; keeps alpha only for the transparent theme."""
    last_only = True

    def pack(self, i: int, rgba: np.ndarray) -> bytes:
        if i != self.n - 1:
            return b""
        im = Image.fromarray(rgba, "RGBA")
        if self.style.theme != "transparent":
            im = im.convert("RGB")
        buf = io.BytesIO()
        im.save(buf, "PNG")
        return buf.getvalue()


def _keys(rgba: np.ndarray) -> np.ndarray:
    """Each pixel's RGB as one integer (r + g<<8 + b<<16 on little-endian)."""
    return np.frombuffer(np.ascontiguousarray(rgba), np.uint32) & 0xFFFFFF


def _rgb(keys: np.ndarray) -> np.ndarray:
    return np.stack([keys & 255, keys >> 8 & 255, keys >> 16 & 255], axis=-1).astype(np.int32)


def median_cut(rgb: np.ndarray, weight: np.ndarray, n: int) -> np.ndarray:
    """n colours standing for weighted colours rgb [M, 3]: split the heaviest wide box at its median."""
    def box(c, w):  # (score: weight times the widest channel's range, colours, weights)
        return w.sum() * np.ptp(c, axis=0).max(), c, w

    boxes = [box(rgb, weight)]
    while len(boxes) < n:
        k = max(range(len(boxes)), key=lambda k: boxes[k][0])
        if boxes[k][0] == 0:
            break
        _, c, w = boxes.pop(k)
        order = np.argsort(c[:, np.ptp(c, axis=0).argmax()], kind="stable")
        cum = np.cumsum(w[order])
        cut = int(np.clip(np.searchsorted(cum, cum[-1] / 2), 1, len(c) - 1))
        boxes += [box(c[order[:cut]], w[order[:cut]]), box(c[order[cut:]], w[order[cut:]])]
    return np.array([np.round(np.average(c, axis=0, weights=w)) for _, c, w in boxes], np.int32)


SAMPLE_FRAMES = 16     # frames the GIF palette is built from, evenly spaced
EXACT_COLOURS = 128    # at most this many of the most frequent colours are kept exactly...
FLAT_SHARE = 1e-4      # ...when they cover at least this share of the sampled pixels
RESERVED = 255         # GIF index for "unchanged since the last frame", or the transparent background


def _palette(keys: np.ndarray, counts: np.ndarray, size: int, always: np.ndarray) -> np.ndarray:
    """At most `size` colour keys: `always` and the flat (frequent) colours exactly, a median cut of the
    rest (antialiased edges)."""
    if len(np.union1d(keys, always)) <= size:
        return np.union1d(keys, always)
    top = np.argsort(-counts, kind="stable")[:EXACT_COLOURS]
    exact = np.union1d(keys[top[counts[top] >= FLAT_SHARE * counts.sum()]], always)
    rest = ~np.isin(keys, exact)
    cut = median_cut(_rgb(keys[rest]), counts[rest], size - len(exact)).astype(np.uint32)
    return np.concatenate([exact, cut[:, 0] | cut[:, 1] << 8 | cut[:, 2] << 16])


def _nearest(rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Index of the nearest palette colour for each colour, in chunks to bound memory."""
    chunks = np.array_split(rgb, max(1, len(rgb) // 4096))
    return np.concatenate([((c[:, None] - palette[None]) ** 2).sum(-1).argmin(1) for c in chunks])


@encoder("gif")
class Gif(Encoder):
    """One palette for the whole animation, no dithering: the plot's flat colours map exactly. A frame
    stores the rectangle that changed, unchanged pixels as the transparent index (plain themes), or the
    whole frame over a transparent background (transparent theme). Each frame's label goes before it as a
    comment (GIF89a's comment extension, which viewers skip): `labels.read` reads them back. Loops forever; the
    last frame holds."""

    def fit(self, sample: Iterator[np.ndarray]) -> None:
        seen = [np.unique(self._visible(f), return_counts=True) for f in sample]
        keys, inverse = np.unique(np.concatenate([k for k, _ in seen]), return_inverse=True)
        counts = np.bincount(inverse, np.concatenate([c for _, c in seen]))
        # the theme's colours stay exact even when they show only in frames left out of the sample
        theme = np.round(to_rgba_array([self.style.bg, self.style.fg, *self.style.colors]) * 255)
        self.palette = _palette(keys, counts, RESERVED, _keys(theme.astype(np.uint8)))
        self._lut = self._prev = None

    def _visible(self, rgba: np.ndarray) -> np.ndarray:
        keys = _keys(rgba)
        return keys[rgba[..., 3].ravel() >= 128] if self.style.theme == "transparent" else keys

    def _index(self, rgba: np.ndarray) -> np.ndarray:
        """Palette index of every pixel (the nearest colour: a palette colour maps to itself), through a
        lookup table over all 2**24 colours filled as colours appear."""
        if self._lut is None:
            self._lut = np.full(1 << 24, -1, np.int16)
        keys = _keys(rgba)
        idx = self._lut[keys]
        new = np.unique(keys[idx < 0])
        if new.size:
            self._lut[new] = _nearest(_rgb(new), _rgb(self.palette))
            idx = self._lut[keys]
        idx = idx.astype(np.uint8).reshape(rgba.shape[:2])
        if self.style.theme == "transparent":
            idx[rgba[..., 3] < 128] = RESERVED
        return idx

    def _centiseconds(self, i: int) -> int:
        # rounded on the running clock so the total stays exact; browsers slow delays under 2 cs down
        step = 100 * self.style.interval(self.n)
        hold = round(100 * self.style.hold) if i == self.n - 1 else 0
        return max(2, round(step * (i + 1)) - round(step * i) + hold)

    def pack(self, i: int, rgba: np.ndarray) -> bytes:
        idx = self._index(rgba)
        prev, self._prev = self._prev, idx
        x0 = y0 = 0
        if self.style.theme == "transparent":
            flags, part = 2 << 2 | 1, idx  # restore to background, then draw the whole frame
        elif prev is None:
            flags, part = 1 << 2, idx
        else:
            changed = idx != prev
            rows, cols = np.flatnonzero(changed.any(1)), np.flatnonzero(changed.any(0))
            if rows.size:
                y0, x0 = rows[0], cols[0]
                box = np.s_[y0:rows[-1] + 1, x0:cols[-1] + 1]
                part = np.where(changed[box], idx[box], RESERVED)
            else:  # a frame like the last still counts: one transparent pixel
                part = np.full((1, 1), RESERVED, np.uint8)
            flags = 1 << 2 | 1
        control = b"!\xf9\x04" + struct.pack("<BHBB", flags, self._centiseconds(i), RESERVED, 0)
        label = comment(self.labels[i] if self.labels else "")
        return label + control + b"".join(GifImagePlugin.getdata(Image.fromarray(part), offset=(int(x0), int(y0))))

    def open(self) -> None:
        super().open()
        colours = np.zeros((256, 3), np.uint8)
        colours[:len(self.palette)] = _rgb(self.palette)
        w, h = self.style.size
        self._file.write(b"GIF89a" + struct.pack("<HHBBB", w, h, 0xF7, RESERVED, 0) + colours.tobytes()
                         + b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00")  # loop forever

    def close(self) -> None:
        self._file.write(b";")
        super().close()
        mb = self.tmp.stat().st_size / 1e6
        if mb > self.style.gif_limit_mb:
            warnings.warn(f"{self.target.name} is {mb:.1f} MB (limit {self.style.gif_limit_mb:g} MB): "
                          "use fewer frames, a smaller preset, or mp4", stacklevel=2)


@encoder("mp4")
class Mp4(Encoder):
    """H.264 in yuv420p (BT.709, faststart) through imageio-ffmpeg's ffmpeg: plays in browsers and slide
    software. MP4 has no alpha: the transparent theme is composited on white. The last frame holds."""

    def pack(self, i: int, rgba: np.ndarray) -> bytes:
        rgb = rgba[..., :3]
        if self.style.theme == "transparent":
            a = rgba[..., 3:] / 255
            rgb = np.round(rgb * a + 255 * (1 - a)).astype(np.uint8)
        return np.ascontiguousarray(rgb).tobytes()

    def open(self) -> None:
        super().open()
        self._file.close()
        w, h = self.style.size
        interval = self.style.interval(self.n)
        self._hold = round(self.style.hold / interval)
        self._written = 0
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
             "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate", f"{1 / interval:.6g}",
             "-i", "-", "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
             "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709",  # tagged: browsers agree
             "-c:v", "libx264", "-crf", "20", "-preset", "medium", "-movflags", "+faststart",
             "-f", "mp4", str(self.tmp)],
            stdin=subprocess.PIPE, stderr=self._log)

    def write(self, data: bytes) -> None:
        self._written += 1
        try:
            for _ in range(1 + self._hold * (self._written == self.n)):
                self._proc.stdin.write(data)
        except BrokenPipeError:  # ffmpeg stopped: its log says why
            raise self._failure() from None

    def close(self) -> None:
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        if self._proc.wait():
            raise self._failure()
        self._log.close()

    def _failure(self) -> Exception:
        """Why ffmpeg stopped: a full disk as the OSError naming the output, else ffmpeg's own words."""
        self._proc.wait()
        self._log.seek(0)
        log = self._log.read().decode(errors="replace")
        for code in (errno.ENOSPC, errno.EDQUOT):
            if os.strerror(code) in log:
                return OSError(code, os.strerror(code), str(self.target))
        return RuntimeError(f"ffmpeg failed for {self.target.name}: {log[-2000:]}")

    def abort(self) -> None:
        self._proc.kill()
        self._proc.wait()
        self._log.close()
        super().abort()
