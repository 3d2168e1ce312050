"""The rendering engine: decoded GIF/MP4/PNG frames, timing, palette, parallel rendering, atomic writes."""
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import pytest

from reportgen.draw.animate import render
from reportgen.draw.style import PRESETS, Style

LINE = (200, 100, 50)  # not a theme colour: it must be kept exact for being frequent
FAST = Style(fps=10, hold=0.5)


class Bar:
    """A thick vertical line stepping right, with a title; `repeat` shows each position that many frames."""

    def __init__(self, style, n=8, repeat=1, fail_at=None, animated=True, noise=False):
        self.fig, ax = style.figure(layout=None)
        if noise:  # 1600 colours on the left: more than a GIF palette holds
            ax.imshow(np.random.default_rng(0).random((40, 40, 3)), extent=(0, 2, 0, 1), aspect="auto")
        self.n_frames, self.repeat, self.fail_at = n, repeat, fail_at
        ax.set_xlim(0, n)
        ax.set_ylim(0, 1)
        # clear of the spines: animated artists are drawn over static ones, a full draw draws spines on top
        self.line, = ax.plot([0, 0], [0.05, 0.95], lw=6, color=np.array(LINE) / 255, animated=animated)
        self.title = ax.set_title("", animated=animated)

    def update(self, i):
        if i == self.fail_at:
            raise RuntimeError("boom")
        k = i // self.repeat
        self.line.set_xdata([k + 0.5, k + 0.5])
        self.title.set_text(f"frame {k}")


def drawn(i, style=FAST):
    """Frame i of Bar drawn the plain way: nothing animated, one whole-figure draw."""
    bar = Bar(style, animated=False)
    bar.update(i)
    bar.fig.canvas.draw()
    return np.asarray(bar.fig.canvas.buffer_rgba())


def test_gif_has_every_frame_its_size_and_durations(tmp_path):
    out = render(Bar, tmp_path / "bar", ("gif",), FAST, jobs=1)
    frames = iio.imread(out["gif"], index=None)
    assert frames.shape[:3] == (8, 450, 800)
    assert [iio.immeta(out["gif"], index=i)["duration"] for i in range(8)] == [100] * 7 + [600]
    assert iio.immeta(out["gif"], index=0)["loop"] == 0


class Labelled(Bar):
    def label(self, i):
        return f"position {i // self.repeat}" + " long" * 60 * (i == 3)  # over one sub-block of 255 bytes


def test_gif_carries_each_frames_label_and_decodes_as_before(tmp_path):
    from reportgen.draw.labels import read
    plain = render(Bar, tmp_path / "plain", ("gif",), FAST, jobs=1)["gif"]
    out = render(Labelled, tmp_path / "bar", ("gif",), FAST, jobs=2)["gif"]
    assert read(out) == [f"position {i}" + " long" * 60 * (i == 3) for i in range(8)]
    assert read(plain) == [""] * 8
    assert np.array_equal(iio.imread(out, index=None), iio.imread(plain, index=None))


def test_every_figure_of_more_than_one_frame_says_what_its_frames_show():
    from reportgen.draw import figures
    one_frame = {"lr_schedule", "lr_sweep", "warmup_sweep"}
    assert sorted(n for n, f in figures.load_all().items() if not hasattr(f.make, "label")) == sorted(one_frame)


def test_gif_keeps_identical_consecutive_frames(tmp_path):
    out = render(partial(Bar, repeat=2), tmp_path / "bar", ("gif",), Style(duration=2, hold=0), jobs=1)
    frames = iio.imread(out["gif"], index=None)
    assert len(frames) == 8 and (frames[0] == frames[1]).all() and (frames[1] != frames[2]).any()
    assert sum(iio.immeta(out["gif"], index=i)["duration"] for i in range(8)) == 2000


@pytest.mark.parametrize("noise", [False, True])
def test_gif_palette_keeps_flat_colours_exact(tmp_path, noise):
    out = render(partial(Bar, noise=noise), tmp_path / "bar", ("gif", "png"), FAST, jobs=1)
    gif, png = iio.imread(out["gif"], index=7).astype(int), iio.imread(out["png"]).astype(int)
    line, white = (png == LINE).all(-1), (png == 255).all(-1)
    assert (gif == LINE).all(-1).sum() >= line.sum() > 2000  # about 8 px wide, 310 px high
    assert ((gif == png)[line | white]).all()  # exact, and no speckle on the background
    assert np.abs(gif - png).mean() < (3 if noise else 0.5)


def test_png_is_the_last_frame(tmp_path):
    out = render(Bar, tmp_path / "bar", ("png",), FAST)
    assert (iio.imread(out["png"]) == drawn(7)[..., :3]).all()


def test_redrawing_only_animated_artists_matches_a_full_draw(tmp_path):
    a = render(Bar, tmp_path / "a", ("gif",), FAST, jobs=1)
    b = render(partial(Bar, animated=False), tmp_path / "b", ("gif",), FAST, jobs=1)
    assert (iio.imread(a["gif"], index=None) == iio.imread(b["gif"], index=None)).all()


def test_mp4_frames_size_and_hold(tmp_path):
    out = render(Bar, tmp_path / "bar", ("mp4",), FAST)
    reader = imageio_ffmpeg.read_frames(str(out["mp4"]))
    meta = next(reader)
    frames = [np.frombuffer(f, np.uint8).reshape(450, 800, 3) for f in reader]
    assert (meta["codec"], meta["size"], meta["fps"]) == ("h264", (800, 450), 10)
    assert meta["pix_fmt"].startswith("yuv420p")
    assert len(frames) == 8 + 5  # 0.5 s hold at 10 fps
    assert all(np.abs(f.astype(int) - frames[7]).mean() < 0.5 for f in frames[8:])
    assert np.abs(frames[7].astype(int) - drawn(7)[..., :3]).mean() < 2


def test_parallel_render_is_identical_to_one_process(tmp_path):
    bar = partial(Bar, n=30)
    one = render(bar, tmp_path / "one", ("gif", "mp4"), FAST, jobs=1)
    two = render(bar, tmp_path / "two", ("gif", "mp4"), FAST, jobs=2)
    assert (iio.imread(one["gif"], index=None) == iio.imread(two["gif"], index=None)).all()
    for f in ("gif", "mp4"):
        assert one[f].read_bytes() == two[f].read_bytes()


@pytest.mark.parametrize("jobs, fail_at", [(1, 3), (2, 25)])
def test_a_failure_leaves_no_partial_file(tmp_path, jobs, fail_at):
    (tmp_path / "bar.gif").write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        render(partial(Bar, n=30, fail_at=fail_at), tmp_path / "bar", ("gif", "mp4", "png"), FAST,
               jobs=jobs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bar.gif"]
    assert (tmp_path / "bar.gif").read_bytes() == b"old"


def test_what_a_killed_render_left_goes_with_the_next_render_and_a_live_ones_stays(tmp_path):
    code = ("import sys; from functools import partial; from tests.test_animate import Bar, FAST; "
            "from reportgen.draw.animate import render; render(partial(Bar, n=2000), sys.argv[1], ('gif', 'mp4'), "
            "FAST, jobs=1)")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "bar")], cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root)})
    while proc.poll() is None and len(list(tmp_path.glob(".bar.*.part"))) < 2:
        pass
    proc.kill()
    assert proc.wait() == -9 and len(list(tmp_path.glob(".bar.*.part"))) == 2  # killed while writing both
    live = tmp_path / f".bar.gif.{os.getpid()}-0000.part"  # another render, still running (this process)
    live.write_bytes(b"")
    render(partial(Bar, n=4), tmp_path / "bar", ("gif", "mp4"), FAST, jobs=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "bar.gif", "bar.mp4"]


def test_transparent_theme_keeps_alpha_in_png_and_gif(tmp_path):
    out = render(Bar, tmp_path / "bar", ("gif", "png"), Style(theme="transparent"), jobs=1)
    png = iio.imread(out["png"])
    gif = iio.imread(out["gif"], index=7, mode="RGBA")
    assert png.shape == (450, 800, 4) and png[0, 0, 3] == 0 and gif[0, 0, 3] == 0
    assert ((gif == LINE + (255,)).all(-1) == (png == LINE + (255,)).all(-1)).all()


@pytest.mark.parametrize("theme, bg", [("light", (255, 255, 255)), ("dark", (0x15, 0x17, 0x1C))])
def test_theme_sets_the_background(tmp_path, theme, bg):
    out = render(Bar, tmp_path / "bar", ("png",), Style(theme=theme))
    assert tuple(iio.imread(out["png"])[0, 0]) == bg


def test_big_gif_warns(tmp_path):
    with pytest.warns(UserWarning, match="bar.gif is .* MB .*mp4"):
        render(Bar, tmp_path / "bar", ("gif",), Style(gif_limit_mb=0.001), jobs=1)


@pytest.mark.parametrize("name", PRESETS)
def test_presets_have_their_pixel_size(name):
    fig, _ = Style(preset=name).figure()
    fig.canvas.draw()
    assert fig.canvas.get_width_height() == (PRESETS[name].width, PRESETS[name].height)


@pytest.mark.parametrize("kw, message", [
    ({"preset": "huge"}, "unknown preset 'huge'; allowed: web, slide-16:9"),
    ({"theme": "neon"}, "unknown theme 'neon'; allowed: light, dark, transparent"),
])
def test_bad_style_is_a_clear_error(kw, message):
    with pytest.raises(ValueError, match=message):
        Style(**kw)


def test_bad_format_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown format 'avi'; allowed: png, gif, mp4"):
        render(Bar, tmp_path / "bar", ("avi",))


TORCH_FIGURE = '''
import torch
class TorchFigure:
    def __init__(self, style):
        self.fig, self.ax = style.figure()
        self.n_frames = 30
        (self.line,) = self.ax.plot([0, 1], [0, 1])
    def update(self, i):
        v = torch.linalg.svdvals(torch.randn(64, 64, generator=torch.Generator().manual_seed(int(i))))
        self.line.set_data(range(64), v.numpy())
'''


def test_workers_forked_after_torch_ran_do_not_hang(tmp_path):
    """torch's OpenMP pool, started in the parent (training before rendering), hangs a forked child."""
    (tmp_path / "torch_figure.py").write_text(TORCH_FIGURE)
    code = ("import sys, torch; sys.path.insert(0, sys.argv[1]); from torch_figure import TorchFigure;"
            "from reportgen.draw import animate; a = torch.randn(1500, 1500); (a @ a).sum();"
            "animate.render(TorchFigure, sys.argv[1] + '/out', ('gif',), animate.Style(), jobs=2)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], timeout=120, capture_output=True, text=True,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert len(iio.imread(tmp_path / "out.gif", index=None)) == 30
