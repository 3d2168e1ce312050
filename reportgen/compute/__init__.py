"""What computes a run: runtime, the training loop and what it records, models, data, optimizers, landscapes,
and the demos' computations. Importing it registers every runner (demos.py, sweep.py)."""
from . import checks, demos, double_descent, race, sweep  # noqa: F401 - they register their runners and checks
