"""Declarations that train nothing (SVD compression, optimizer races, Newton fields, MDS of cities, a trained
network's layers truncated by SVD) and the runners that compute and store their arrays."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from . import spec
from .rundir import user_cache, write_json
from .spec import Experiment, SpecError, require

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
        require(bool(spec.NAME.match(self.name)), self, "name", "lower-case letters, digits, '.', '_', '-'")


@spec.spec
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
        from .svd import MODES
        require(self.mode in MODES, self, "mode", ", ".join(MODES))
        require(self.max_side >= 8, self, "max_side", "an integer >= 8")
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


@spec.spec
class Racer:
    """One optimizer of a race: its class by name, its learning rate, any other keyword of that class."""
    optimizer: str
    lr: float
    options: dict[str, float | bool | tuple[float, float]] = dataclasses.field(default_factory=dict)

    def check(self):
        from .race import OPTIMIZERS
        require(self.optimizer in OPTIMIZERS, self, "optimizer", ", ".join(OPTIMIZERS))
        require(self.lr > 0, self, "lr", "a number > 0")
        if refusal := _refusal(self):
            raise SpecError(f"Racer.options = {self.options!r}: {self.optimizer} refuses them ({refusal})")


ACCEPTED = "racers.json"   # in the user's cache: the racers whose class took their options, per torch version


@functools.cache
def _accepted() -> set[str]:
    """The accepted racers remembered so far, read once a process (a cache that cannot be read is empty)."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        return set(json.loads((user_cache() / ACCEPTED).read_text()))
    return set()


def _refusal(racer: Racer) -> str:
    """Why the racer's class refuses its lr and options, in its own words ("": it takes them). Asking means
    building one, which loads torch (~2 s): accepted racers are remembered, so loading a known declaration
    stays cheap."""
    try:
        key = json.dumps([metadata.version("torch"), racer.optimizer, racer.lr, racer.options], sort_keys=True)
    except metadata.PackageNotFoundError:   # a torch built from source: no version to remember it by
        key = None
    if key in _accepted():
        return ""
    import torch

    from .race import optimizer
    try:
        optimizer(racer.optimizer)([torch.zeros(2, requires_grad=True)], lr=racer.lr, **racer.options)
    except (TypeError, ValueError) as e:
        return str(e)
    if key:
        _accepted().add(key)
        with contextlib.suppress(OSError):   # a cache that cannot be written only costs time
            write_json(user_cache() / ACCEPTED, sorted(_accepted()))
    return ""


@spec.spec
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
        from .race import FUNCTIONS
        require(self.function in FUNCTIONS, self, "function", ", ".join(FUNCTIONS))
        require(len(self.racers) >= 1, self, "racers", "a dict of one or more label: Racer(...)")
        require(self.steps >= 1, self, "steps", "an integer >= 1")
        require(self.noise >= 0, self, "noise", "a number >= 0")


@spec.spec
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
        from .race import FUNCTIONS
        bounded = [n for n, f in FUNCTIONS.items() if f.minima]  # a field on the saddle is just its Hessian
        require(self.function in bounded, self, "function", ", ".join(bounded))
        require(self.arrows >= 2, self, "arrows", "an integer >= 2")
        require(self.particles >= 1, self, "particles", "an integer >= 1")
        require(self.steps >= 1, self, "steps", "an integer >= 1")
        require(self.lr > 0, self, "lr", "a number > 0")
        require(0 < self.damping <= 1, self, "damping", "a number in (0, 1]")


@spec.spec
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
        require(self.budget >= 2, self, "budget", "an integer >= 2")


@spec.spec
class LayerCompression(Demo):
    """Train `experiment` (its run directory is this one: every training figure works on it too), then
    replace each weight matrix by its truncated SVD at every rank, one layer at a time and all together,
    and measure the test accuracy of the network each time."""
    figures: tuple[str, ...] = ("layer_compression",)
    experiment: Experiment


# only the runners need project, and project imports this module (and sweep.py, which builds on Demo) to
# register them: imported here, after the declarations, either module can be imported first
from . import project  # noqa: E402

FRAMES = 60  # snapshots an MDS run keeps: one GIF frame each


def environment() -> dict:
    import torch
    from .train import environment as env
    return env(torch.device("cpu"))


def _finish(exp, run, kind: str, **arrays: Any) -> str:
    """A demo's whole run directory: config, arrays, and the state that marks it final."""
    run.create(exp, kind=kind, env=environment())
    run.write_arrays(**arrays)
    run.set_status("complete")
    return "complete"


@project.runner(SVDCompression)
def run_svd(exp: SVDCompression, run, progress=None) -> str:
    from . import svd
    try:
        image = svd.load_image(exp.image)
    except ValueError as e:  # a body that breaks only when decoded: named like a bad field
        raise SpecError(f"SVDCompression.image = {exp.image!r}: {e}") from None
    c = svd.compress(fit(image, exp.max_side), mode=exp.mode)
    # float32 factors: half the disk, and their 1e-7 is far below what 8-bit frames can show
    return _finish(exp, run, "svd_compression", mode=exp.mode, shape=np.array(c.shape), u=c.u.astype(np.float32),
                   s=c.s, vt=c.vt.astype(np.float32), errors=c.errors, storage=c.storage)


def fit(image: np.ndarray, side: int) -> np.ndarray:
    """The image scaled down (Lanczos, per channel) so that its longer side is at most `side` pixels."""
    from PIL import Image
    scale = side / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    planes = image[..., None] if image.ndim == 2 else image
    out = np.stack([np.asarray(Image.fromarray(planes[..., c].astype(np.float32), "F").resize(size, Image.LANCZOS))
                    for c in range(planes.shape[2])], -1).clip(0, 1).astype(np.float64)
    return out[..., 0] if image.ndim == 2 else out


@project.runner(OptimizerRace)
def run_race(exp: OptimizerRace, run, progress=None) -> str:
    import torch
    from .race import FUNCTIONS, optimizer, race
    function = FUNCTIONS[exp.function]
    tracks = race(function, {label: (optimizer(r.optimizer), {"lr": r.lr, **r.options}) for label, r in exp.racers.items()},
                  exp.steps, exp.start, exp.noise, exp.seed)
    best = function.f(torch.tensor(function.minima, dtype=torch.float64)).min().item() if function.minima else np.nan
    return _finish(exp, run, "optimizer_race", labels=np.array(list(tracks)), box=np.array(function.box),
                   paths=np.stack([t.path for t in tracks.values()]),
                   losses=np.stack([t.losses for t in tracks.values()]),
                   surface=surface(function), minimum=best,
                   minima=np.array(function.minima).reshape(-1, 2))


def grid(box, n: int) -> np.ndarray:
    """Points [n, n, 2] evenly spanning box ((xmin, xmax), (ymin, ymax)), indexed [iy, ix] like contour()."""
    return np.stack(np.meshgrid(*(np.linspace(lo, hi, n) for lo, hi in box)), -1)


def inside(x, box):
    """Which points [N, 2] (a tensor) lie in box, finite ones only."""
    (x0, x1), (y0, y1) = box
    return (x[:, 0] >= x0) & (x[:, 0] <= x1) & (x[:, 1] >= y0) & (x[:, 1] <= y1)


def surface(function, n: int = 241) -> np.ndarray:
    """f on an n×n grid spanning the function's box (for contours)."""
    import torch
    return function.f(torch.tensor(grid(function.box, n))).numpy()


@project.runner(NewtonField)
def run_newton(exp: NewtonField, run, progress=None) -> str:
    from .race import FUNCTIONS, newton_field
    function = FUNCTIONS[exp.function]
    field = newton_field(function, n=exp.arrows)
    # starts a tenth of the box inside its edges, so no particle begins where it would at once leave
    box = [(lo + (hi - lo) / 10, hi - (hi - lo) / 10) for lo, hi in function.box]
    starts = grid(box, exp.particles).reshape(-1, 2)
    points, kinds = stationary(function)
    return _finish(exp, run, "newton_field", box=np.array(function.box), x=field.x, y=field.y, gradient=field.gradient,
                   newton=field.newton, negative_curvature=field.negative_curvature,
                   surface=surface(function), stationary=points, stationary_kind=kinds,
                   gd_paths=descend(function, starts, exp.steps, exp.lr, newton=False),
                   newton_paths=descend(function, starts, exp.steps, exp.damping, newton=True))


def _derivatives(function):
    from torch.func import grad, hessian, vmap
    return vmap(grad(function.f)), vmap(hessian(function.f))


def descend(function, starts: np.ndarray, steps: int, rate: float, newton: bool) -> np.ndarray:
    """Paths [steps + 1, N, 2] of x ← x - rate·∇f (gradient descent) or x - rate·H⁻¹∇f (damped Newton);
    NaN once a point has left the function's box (gone: it would only stretch the picture)."""
    import torch
    gradient, hessian = _derivatives(function)
    x = torch.tensor(starts, dtype=torch.float64)
    paths = [x.numpy().copy()]
    for _ in range(steps):
        g = gradient(x)
        x = x - rate * (torch.linalg.solve_ex(hessian(x), g)[0] if newton else g)
        x[~inside(x, function.box)] = torch.nan  # NaN compares False: it stays gone
        paths.append(x.numpy().copy())
    return np.stack(paths)


def stationary(function, n: int = 41, iterations: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Every stationary point in the box: where full Newton steps from an n×n grid settle, deduplicated,
    with its number of negative Hessian eigenvalues (0 minimum, 1 saddle, 2 maximum)."""
    import torch
    gradient, hessian = _derivatives(function)
    x = torch.tensor(grid(function.box, n).reshape(-1, 2))
    for _ in range(iterations):
        x = x - torch.linalg.solve_ex(hessian(x), gradient(x))[0]
    settled = x[inside(x, function.box) & (gradient(x).norm(dim=1) < 1e-8)]
    points = np.unique(settled.numpy().round(5), axis=0).reshape(-1, 2)
    kinds = (torch.linalg.eigvalsh(hessian(torch.tensor(points))) < 0).sum(1).numpy()
    return points, kinds


@project.runner(CityMDS)
def run_mds(exp: CityMDS, run, progress=None) -> str:
    from .mds import compare
    cities, truth, results = compare(exp.cities, exp.budget, exp.seed, FRAMES)
    per_method = {f"{key}_{field}": getattr(results[method], field)
                  for key, method in (("gd", "gd"), ("nm", "nelder-mead"))
                  for field in ("X", "losses", "snapshots", "snapshot_evals", "flops_per_eval")}
    return _finish(exp, run, "mds_cities", names=np.array(cities.name), truth=truth, **per_method)


@project.runner(LayerCompression)
def run_layer_compression(exp: LayerCompression, run, progress=None) -> str:
    from .train import train
    if not run.exists():  # this declaration's config, not the inner experiment's, names the run
        run.create(exp, kind="layer_compression", env=environment())
    state = train(exp.experiment, run, progress)
    status = run.status
    if state != "complete":
        return state
    run.set_status("running", status["epoch"], status["step"], "truncating the trained layers")
    with one_thread():
        run.write_arrays(**truncations(exp.experiment, run))
    run.set_status("complete", status["epoch"], status["step"])
    return "complete"


@contextlib.contextmanager
def one_thread():
    """Torch on one CPU thread: for hundreds of small forward passes a thread pool costs more than it gives
    (fifty times more on a busy machine)."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def truncations(exp: Experiment, run) -> dict[str, np.ndarray]:
    """Test accuracy with each weight matrix (a conv kernel as [out, in·kh·kw]) cut to rank r = 0..k,
    one at a time (accuracy [L, K + 1], NaN past a layer's own k) and all at once (accuracy_all [K + 1])."""
    import torch
    from . import data, models
    from .train import evaluate
    ds = data.load(exp.data)
    model = models.build(exp.model, tuple(ds.x_train.shape[1:]), len(ds.classes))
    model.load_state_dict(run.read_checkpoint()["model"])
    weights = {n: p for n, p in model.named_parameters() if p.ndim >= 2}
    trained = {n: p.detach().clone() for n, p in weights.items()}
    factors = {n: torch.linalg.svd(w.flatten(1), full_matrices=False) for n, w in trained.items()}
    ks = [len(s) for _, s, _ in factors.values()]
    top = max(ks)

    def accuracy(ranks: dict[str, int]) -> float:
        with torch.no_grad():
            for n, (u, s, vt) in factors.items():
                r = ranks.get(n)
                weights[n].copy_(trained[n] if r is None else ((u[:, :r] * s[:r]) @ vt[:r]).view_as(trained[n]))
        return evaluate(model, ds.x_test, ds.y_test)[1]

    each = np.full((len(weights), top + 1), np.nan)
    for i, (n, k) in enumerate(zip(weights, ks)):
        each[i, :k + 1] = [accuracy({n: r}) for r in range(k + 1)]
    together = np.array([accuracy({n: min(r, k) for n, k in zip(weights, ks)}) for r in range(top + 1)])
    spectra = np.full((len(weights), top), np.nan)
    for i, (_, s, _) in enumerate(factors.values()):
        spectra[i, :len(s)] = s.numpy()
    shapes = np.array([w.flatten(1).shape for w in trained.values()])
    return {"names": np.array(list(weights)), "shapes": shapes, "spectra": spectra, "accuracy": each,
            "accuracy_all": together, "accuracy_full": accuracy({})}
