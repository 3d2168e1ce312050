"""reportgen: watch a network train — gradient diagrams, trajectories and loss projections on a static site.

Experiment scripts import their declarations from here (`from reportgen import Experiment, MLP, Adam`); a
user's own loop records with `reportgen.Recorder` and reads a run back with `reportgen.load_run`. Everything
is imported on first use, so that the command line starts without torch."""
from .version import __version__


def __getattr__(name: str):
    if name == "Recorder":
        from .api.recorder import Recorder
        return Recorder
    if name == "RecorderCallback":
        from .api.lightning import RecorderCallback
        return RecorderCallback
    if name == "load_run":
        from .store.load import load_run
        return load_run
    import importlib   # not `from . import declare`: that asks this very function for the name first
    declare = importlib.import_module(f"{__name__}.declare")
    if name == "__all__":  # `from reportgen import *` in a script: the declarations (and no torch)
        return list(declare.__all__)
    if name in declare.__all__:
        return getattr(declare, name)
    raise AttributeError(f"module 'reportgen' has no attribute {name!r}")


def __dir__() -> list[str]:
    from .declare import __all__ as declared
    return sorted([*globals(), "Recorder", "RecorderCallback", "load_run", *declared])
