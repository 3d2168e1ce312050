"""The runners of the declarations that train nothing: each computes its arrays and stores them in its run."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..declare import CityMDS, Experiment, LayerCompression, NewtonField, OptimizerRace, SpecError, SVDCompression
from .runners import RUNNERS

FRAMES = 60  # snapshots an MDS run keeps: one GIF frame each


def cpu_environment() -> dict:
    import torch

    from .runtime import environment
    return environment(torch.device("cpu"))


def _finish(exp, run, kind: str, **arrays: Any) -> str:
    """A demo's whole run directory: config, arrays, and the state that marks it final."""
    run.create(exp, kind=kind, env=cpu_environment())
    run.write_arrays(**arrays)
    run.set_status("complete")
    return "complete"


@RUNNERS.register(SVDCompression)
def run_svd(exp: SVDCompression, run, progress=None) -> str:
    from . import svd
    try:
        image = svd.load_image(exp.image)
    except ValueError as e:  # a body that breaks only when decoded: named like a bad field
        raise SpecError(f"SVDCompression.image = {exp.image!r}: {e}") from None
    c = svd.compress(fit(image, exp.max_side), mode=exp.mode)
    # float32 factors: half the disk, and their 1e-7 is far below what 8-bit frames can show
    c["u"], c["vt"] = c["u"].astype(np.float32), c["vt"].astype(np.float32)
    return _finish(exp, run, "svd_compression", **c)


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


@RUNNERS.register(OptimizerRace)
def run_race(exp: OptimizerRace, run, progress=None) -> str:
    import torch
    from .optim import by_name
    from .race import FUNCTIONS, race
    function = FUNCTIONS[exp.function]
    tracks = race(function, {label: (by_name(r.optimizer), {"lr": r.lr, **r.options}) for label, r in exp.racers.items()},
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


@RUNNERS.register(NewtonField)
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


@RUNNERS.register(CityMDS)
def run_mds(exp: CityMDS, run, progress=None) -> str:
    from .mds import compare
    cities, truth, results = compare(exp.cities, exp.budget, exp.seed, FRAMES)
    per_method = {f"{key}_{field}": getattr(results[method], field)
                  for key, method in (("gd", "gd"), ("nm", "nelder-mead"))
                  for field in ("X", "losses", "snapshots", "snapshot_evals", "flops_per_eval")}
    return _finish(exp, run, "mds_cities", names=np.array(cities.name), truth=truth, **per_method)


@RUNNERS.register(LayerCompression)
def run_layer_compression(exp: LayerCompression, run, progress=None) -> str:
    from .runtime import one_thread
    from .train import train
    if not run.exists():  # this declaration's config, not the inner experiment's, names the run
        run.create(exp, kind="layer_compression", env=cpu_environment())
    state = train(exp.experiment, run, progress, final="running")
    status = run.status
    if state != "complete":
        return state
    run.set_status("running", status["epoch"], status["step"], "truncating the trained layers")
    with one_thread():
        run.write_arrays(**truncations(exp.experiment, run))
    run.set_status("complete", status["epoch"], status["step"])
    return "complete"


def truncations(exp: Experiment, run) -> dict[str, np.ndarray]:
    """Test accuracy with each weight matrix (a conv kernel as [out, in·kh·kw]) cut to rank r = 0..k,
    one at a time (accuracy [L, K + 1], NaN past a layer's own k) and all at once (accuracy_all [K + 1])."""
    import torch
    from . import data, models
    from .train import evaluate
    ds = data.load(exp.data)
    model = models.build(exp.model, tuple(ds.x_train.shape[1:]), len(ds.classes), ds.vocab)
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
