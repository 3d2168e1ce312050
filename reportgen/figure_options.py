"""The command line's options for figures (how they look, which formats are written), checked as one line each."""
from __future__ import annotations

import click

MAX_FPS = 1000.0


def style_options(fn):
    """The options that choose how figures look, shared by build, render and serve."""
    from .draw.style import PRESETS, THEMES
    fn = click.option("--preset", type=click.Choice(sorted(PRESETS)), default="web", show_default=True,
                      help="Pixel size: web or a slide format.")(fn)
    fn = click.option("--theme", type=click.Choice(THEMES), default="light", show_default=True)(fn)
    fn = click.option("--fps", type=float, default=None, help="Frames per second (default: the figure's).")(fn)
    fn = click.option("--jobs", type=int, default=None, help="Processes for rendering (default: all cores).")(fn)
    return fn


def make_style(preset, theme, fps):
    from .declare.spec import SpecError
    from .draw.style import Style
    if fps is not None and not 0 < fps <= MAX_FPS:
        raise SpecError(f"--fps {fps:g}: allowed: a number of frames per second > 0 and <= {MAX_FPS:g}")
    return Style(preset=preset, theme=theme, **({"fps": fps} if fps else {}))


class _FormatOption(click.Option):
    """--format, whose help lists the encoders: read only when help is shown (the encoders load matplotlib)."""

    def get_help_record(self, ctx):
        from .draw.encode import ENCODERS
        self.help = f"Comma-separated: {', '.join(ENCODERS)}."
        return super().get_help_record(ctx)


FORMATS = click.option("--format", "formats", cls=_FormatOption, default="gif,png", show_default=True)


def chosen_formats(text: str) -> tuple[str, ...]:
    """The formats --format names, each once, checked before anything is drawn."""
    from .declare.spec import SpecError
    from .draw.encode import ENCODERS
    chosen = tuple(dict.fromkeys(text.split(",")))
    for name in chosen:
        if name not in ENCODERS:
            raise SpecError(f"--format {name!r}: no such format (allowed: {', '.join(ENCODERS)})")
    return chosen
