"""reportgen: watch a network train — gradient diagrams, trajectories and loss projections on a static site."""
__version__ = "0.1.0"


def __getattr__(name: str):
    """`reportgen.Recorder` and `reportgen.load_run`, imported on first use: the command line needs no torch."""
    if name == "Recorder":
        from .recorder import Recorder
        return Recorder
    if name == "load_run":
        from .export import load_run
        return load_run
    raise AttributeError(f"module 'reportgen' has no attribute {name!r}")
