"""How figures look: pixel size, colours, timing. Free of matplotlib until a figure is made, so that
commands which draw nothing (a no-op build, list, export) start without loading it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

GIF_LIMIT_MB = 10.0   # a GIF above this many megabytes draws a warning: too heavy for a web page


@dataclass(frozen=True)
class Preset:
    """An output's pixel size and how large matplotlib draws at it."""
    width: int
    height: int
    dpi: float         # all of matplotlib's sizes (fonts, lines, markers) scale with it
    font_scale: float  # slides are read from the back of a room: larger text than the web's


PRESETS: dict[str, Preset] = {  # even sizes, as H.264 in yuv420p needs
    "web": Preset(800, 450, 100, 1.0),
    "slide-16:9": Preset(1920, 1080, 240, 1.4),
    "slide-16:9-720": Preset(1280, 720, 160, 1.4),
    "slide-4:3": Preset(1024, 768, 160, 1.4),
}
THEMES = ("light", "dark", "transparent")
# background, foreground, grid, then a palette distinct on that background (Tableau, brightened for dark)
_THEME_COLOURS = {
    "light": ("#ffffff", "#222222", "#dddddd",
              ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf"]),
    "dark": ("#15171c", "#e8e8e8", "#3a3e47",
             ["#4fa3e0", "#ff6b6b", "#5cd65c", "#ffa94d", "#b197fc", "#3bc9db"]),
}
_THEME_COLOURS["transparent"] = ("#ffffff00", *_THEME_COLOURS["light"][1:])


@dataclass(frozen=True)
class Style:
    """Pixel size, colours and timing shared by every figure of a build."""
    preset: str = "web"
    theme: str = "light"
    fps: float = 6.0
    duration: float | None = None   # seconds for all frames (the hold comes on top); overrides fps
    hold: float = 1.5               # extra seconds the last frame is held
    gif_limit_mb: float = GIF_LIMIT_MB

    def __post_init__(self):
        for what, value, allowed in (("preset", self.preset, PRESETS), ("theme", self.theme, THEMES)):
            if value not in allowed:
                raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(allowed)}")
        if self.fps <= 0 or (self.duration is not None and self.duration <= 0) or self.hold < 0:
            raise ValueError(f"fps and duration must be > 0 and hold >= 0, got fps={self.fps}, "
                             f"duration={self.duration}, hold={self.hold}")

    @property
    def size(self) -> tuple[int, int]:
        p = PRESETS[self.preset]
        return p.width, p.height

    @property
    def bg(self) -> str:
        return _THEME_COLOURS[self.theme][0]

    @property
    def fg(self) -> str:
        return _THEME_COLOURS[self.theme][1]

    @property
    def colors(self) -> list[str]:
        return list(_THEME_COLOURS[self.theme][3])

    def interval(self, n_frames: int) -> float:
        """Seconds each frame shows (before the last frame's hold)."""
        return self.duration / n_frames if self.duration else 1 / self.fps

    def rc(self) -> dict:
        """matplotlib settings of this style; render() applies them while a figure is built and drawn."""
        from cycler import cycler
        bg, fg, grid, colors = _THEME_COLOURS[self.theme]
        return {"figure.facecolor": bg, "axes.facecolor": bg, "savefig.facecolor": bg,
                "text.color": fg, "axes.labelcolor": fg, "axes.edgecolor": fg, "xtick.color": fg,
                "ytick.color": fg, "grid.color": grid, "legend.edgecolor": grid,
                "axes.prop_cycle": cycler(color=colors),
                "font.size": 10 * PRESETS[self.preset].font_scale}

    def figure(self, nrows: int = 1, ncols: int = 1, **subplots_kw) -> tuple[Figure, Axes | np.ndarray]:
        """A figure of the preset's pixel size on an Agg canvas (no pyplot), with its axes.
        `layout` (default "constrained") is computed on frame 0 and then kept for every frame."""
        import matplotlib as mpl
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        p = PRESETS[self.preset]
        with mpl.rc_context(self.rc()):
            fig = Figure(figsize=(p.width / p.dpi, p.height / p.dpi), dpi=p.dpi,
                         layout=subplots_kw.pop("layout", "constrained"))
            FigureCanvasAgg(fig)
            return fig, fig.subplots(nrows, ncols, **subplots_kw)
