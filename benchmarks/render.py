"""Gradient diagram of a 107-layer network over 60 epochs: pyplot + FuncAnimation + PillowWriter vs render()."""
import sys
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reportgen.draw.animate import render  # noqa: E402
from reportgen.draw.style import Style  # noqa: E402

LAYERS, EPOCHS = 107, 60
STYLE = Style(preset="web", fps=6)


def synthetic(seed: int = 0) -> dict[str, np.ndarray]:
    """log10 |gradient| quartiles [epoch, layer, series (weight, bias), q25/median/q75], loss, accuracy:
    gradients fade towards the input and recover as training goes on."""
    rng = np.random.default_rng(seed)
    depth = np.arange(LAYERS)[None, :, None] / LAYERS
    progress = np.linspace(0, 1, EPOCHS)[:, None, None]
    median = -8 + 5 * depth * (1 - 0.6 * progress) + 3 * progress + np.array([0, -0.7])
    median = median + 0.15 * rng.standard_normal(median.shape)
    spread = 0.4 + 0.3 * rng.random(median.shape)
    grad = np.stack([median - spread, median, median + spread], axis=-1)
    loss = 2.3 * np.exp(-3 * progress.ravel()) + 0.05
    return {"grad": grad, "loss": loss, "acc": 1 - 0.9 * np.exp(-4 * progress.ravel())}


def title(d: dict, k: int) -> str:
    return f"epoch {k + 1}, loss {d['loss'][k]:.3f}, acc {100 * d['acc'][k]:.1f} %"


def decorate(ax) -> None:
    ax.set_xlim(0.5, LAYERS + 0.5)
    ax.set_ylim(-10, 0)
    ax.set_xlabel("layer (input → output)")
    ax.set_ylabel("log₁₀ |gradient|")
    ax.grid(True, alpha=0.3)


class GradientDiagram:
    """reportgen's way: one figure, the two lines, two bands and the title animated."""

    def __init__(self, style: Style):
        self.d = synthetic()
        self.n_frames = EPOCHS
        self.fig, self.ax = style.figure()
        decorate(self.ax)
        x = np.arange(1, LAYERS + 1)
        self.series = [(self.ax.fill_between(x, 0, 0, color=c, alpha=0.25, lw=0, animated=True),
                        self.ax.plot(x, x * 0.0, color=c, lw=2, label=name, animated=True)[0])
                       for c, name in zip(style.colors, ("weights", "biases"))]
        self.ax.legend(loc="upper right")
        self.title = self.ax.set_title("", loc="left", animated=True)

    def update(self, k: int) -> None:
        x = np.arange(1, LAYERS + 1)
        for s, (band, line) in enumerate(self.series):
            q25, med, q75 = self.d["grad"][k, :, s].T
            band.set_data(x, q25, q75)
            line.set_ydata(med)
        self.title.set_text(title(self.d, k))


def baseline(path: Path) -> None:
    """The usual way: a pyplot figure whose axes are cleared and redrawn every frame, PillowWriter."""
    d, x = synthetic(), np.arange(1, LAYERS + 1)
    colors = STYLE.colors
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100, layout="constrained")

    def draw(k):
        ax.clear()
        decorate(ax)
        for s, (c, name) in enumerate(zip(colors, ("weights", "biases"))):
            q25, med, q75 = d["grad"][k, :, s].T
            ax.fill_between(x, q25, q75, color=c, alpha=0.25, lw=0)
            ax.plot(x, med, color=c, lw=2, label=name)
        ax.legend(loc="upper right")
        ax.set_title(title(d, k), loc="left")

    FuncAnimation(fig, draw, frames=EPOCHS).save(path, writer=PillowWriter(fps=STYLE.fps))
    plt.close(fig)


def timed(fn, *args, **kw) -> float:
    t = time.perf_counter()
    fn(*args, **kw)
    return time.perf_counter() - t


def main(repeats: int = 3) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base, ours = Path(tmp, "baseline.gif"), Path(tmp, "reportgen")
        rows = []
        for _ in range(repeats):
            with plt.rc_context(STYLE.rc()):
                tb = timed(baseline, base)
            to = timed(render, GradientDiagram, ours, ("gif",), STYLE)
            rows.append((tb, to))
        a, b = iio.imread(base, index=None), iio.imread(ours.with_suffix(".gif"), index=None)
        iio.imwrite("/tmp/bench_baseline.png", a[30])
        iio.imwrite("/tmp/bench_reportgen.png", b[30])
        sa, sb = base.stat().st_size, ours.with_suffix(".gif").stat().st_size
        diff = np.abs(a[..., :3].astype(int) - b[..., :3]).mean()
    tb, to = np.array(rows).T
    print(f"{'':12} {'wall s (min-max of ' + str(repeats) + ')':>26} {'GIF KB':>8} {'frames':>7} {'px':>9}")
    print(f"{'baseline':12} {tb.min():12.2f} - {tb.max():<11.2f} {sa / 1e3:8.0f} {len(a):7} {a.shape[2]}x{a.shape[1]}")
    print(f"{'reportgen':12} {to.min():12.2f} - {to.max():<11.2f} {sb / 1e3:8.0f} {len(b):7} {b.shape[2]}x{b.shape[1]}")
    print(f"speed-up {np.median(tb / to):.1f}x (runs: {', '.join(f'{r:.1f}' for r in tb / to)}), "
          f"size ratio {sb / sa:.2f}, mean |pixel difference| {diff:.2f} / 255; "
          "frame 30 of each: /tmp/bench_baseline.png, /tmp/bench_reportgen.png")


if __name__ == "__main__":
    main()
