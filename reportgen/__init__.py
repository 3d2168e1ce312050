"""reportgen: watch a network train — gradient diagrams, trajectories and loss projections on a static site."""
__version__ = "0.1.0"
