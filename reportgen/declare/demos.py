"""Declarations that train nothing: SVD compression, optimizer races, Newton fields, MDS of cities, and a
trained network's layers truncated by SVD. Their runners are in compute/demos.py."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from .data import MAX_SEED, MAX_SIDE
from .experiment import NAME, Experiment
from .spec import SpecError, require, spec, within

MODES = ("gray", "channels", "stacked")  # how an SVD compresses an image's colours
# the 2-D test functions of compute/race.py; a Newton field needs one bounded below
FUNCTIONS = ("rosenbrock", "beale", "himmelblau", "ravine", "saddle")
BOUNDED = ("rosenbrock", "beale", "himmelblau", "ravine")
# the classes a race can name: torch.optim's own with the update rules of the seeds, and Lion and Muon
RACE_OPTIMIZERS = ("SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "NAdam", "Lion", "Muon")
MAX_CITIES = 34  # rows of assets/cities.csv


@dataclasses.dataclass(frozen=True, kw_only=True)
class Demo:
    """The words and figures every declaration has, as in Experiment (not declarable by itself)."""
    name: str
    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()

    def check(self):
        require(bool(NAME.match(self.name)), self, "name", "lower-case letters, digits, '.', '_', '-'")


@spec
class SVDCompression(Demo):
    """An image compressed by truncated SVD at every rank. `image`: a PNG/JPEG path, relative to the
    project folder; None: Grace Hopper's portrait, which ships inside matplotlib. `mode`: gray (one
    matrix), channels (one SVD per colour channel) or stacked (R | G | B side by side as one matrix).
    Images larger than `max_side` pixels are scaled down first, so the SVD stays a matter of seconds."""
    figures: tuple[str, ...] = ("svd_compression",)
    image: str | None = None
    mode: str = "gray"
    max_side: int = 600

    def check(self):
        super().check()
        require(self.mode in MODES, self, "mode", ", ".join(MODES))
        within(self, "max_side", 8, MAX_SIDE)
        if self.image is not None:
            require(Path(self.image).is_file(), self, "image", "an existing image file (PNG, JPEG, ...)")
            _check_image(self)


def _check_image(obj) -> None:
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(obj.image):  # reads the header only: cheap enough for every load of the script
            pass
    except (UnidentifiedImageError, OSError) as e:
        raise SpecError(f"{type(obj).__name__}.image = {obj.image!r}: not an image file (PNG, JPEG, ...): "
                        f"{type(e).__name__}") from None


@spec
class Racer:
    """One optimizer of a race: its class by name, its learning rate, any other keyword of that class."""
    optimizer: str
    lr: float
    options: dict[str, float | bool | tuple[float, float]] = dataclasses.field(default_factory=dict)

    def check(self):
        require(self.optimizer in RACE_OPTIMIZERS, self, "optimizer", ", ".join(RACE_OPTIMIZERS))
        require(self.lr > 0, self, "lr", "a number > 0")


@spec
class OptimizerRace(Demo):
    """Optimizers from the same start on a 2-D test function (race.FUNCTIONS); `noise`: σ of Gaussian
    noise added to every gradient (the same draws for every racer); `start`: None = the function's own."""
    figures: tuple[str, ...] = ("optimizer_race",)
    function: str = "rosenbrock"
    racers: dict[str, Racer]
    steps: int = 300
    start: tuple[float, float] | None = None
    noise: float = 0.0
    seed: int = 0

    def check(self):
        super().check()
        require(self.function in FUNCTIONS, self, "function", ", ".join(FUNCTIONS))
        require(len(self.racers) >= 1, self, "racers", "a dict of one or more label: Racer(...)")
        within(self, "steps", 1, 10 ** 6)
        require(self.noise >= 0, self, "noise", "a number >= 0")
        within(self, "seed", 0, MAX_SEED)


@spec
class NewtonField(Demo):
    """Gradient-descent and Newton directions on a 2-D function, and particles following each from a grid
    of starts (`particles` per side), one frame a step: `lr` is gradient descent's step (the default keeps
    every particle on Himmelblau's map), `damping` the fraction of the Newton step taken, so paths can be seen."""
    figures: tuple[str, ...] = ("newton_field",)
    function: str = "himmelblau"
    arrows: int = 21
    particles: int = 9
    steps: int = 40
    lr: float = 0.005
    damping: float = 0.15

    def check(self):
        super().check()
        require(self.function in BOUNDED, self, "function", ", ".join(BOUNDED))
        within(self, "arrows", 2, 200)
        within(self, "particles", 1, 100)
        within(self, "steps", 1, 10_000)
        require(self.lr > 0, self, "lr", "a number > 0")
        require(0 < self.damping <= 1, self, "damping", "a number in (0, 1]")


@spec
class CityMDS(Demo):
    """The `cities` most populous European cities laid out from their great-circle distances alone,
    by gradient descent and by Nelder–Mead, each allowed `budget` evaluations of the stress."""
    figures: tuple[str, ...] = ("mds_cities",)
    cities: int = 34
    budget: int = 2000
    seed: int = 0

    def check(self):
        super().check()
        require(3 <= self.cities <= MAX_CITIES, self, "cities",
                f"an integer from 3 to {MAX_CITIES} (the talk: 6, 15, 34)")
        within(self, "budget", 2, 10 ** 6)
        within(self, "seed", 0, MAX_SEED)


@spec
class LayerCompression(Demo):
    """Train `experiment` (its run directory is this one: every training figure works on it too), then
    replace each weight matrix by its truncated SVD at every rank, one layer at a time and all together,
    and measure the test accuracy of the network each time."""
    figures: tuple[str, ...] = ("layer_compression",)
    experiment: Experiment


@spec
class DoubleDescent(Demo):
    """Polynomial regression of `points` noisy samples (σ `noise`, evenly spaced on [-1, 1]) of sin(2πx) by every
    degree from 0 to `degrees`: Chebyshev features and the minimum-norm least-squares fit (seed 004), its test error
    on 100 evenly spaced points of the noise-free curve."""
    figures: tuple[str, ...] = ("double_descent",)
    points: int = 50
    degrees: int = 120
    noise: float = 0.2
    seed: int = 0

    def check(self):
        super().check()
        within(self, "points", 2, 10_000)
        within(self, "degrees", 1, 10_000)
        require(self.noise >= 0, self, "noise", "a number >= 0")
        within(self, "seed", 0, MAX_SEED)
