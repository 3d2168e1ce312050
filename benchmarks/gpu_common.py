"""What the checks of benchmarks/gpu.py share: their sizes, the talk's nets, CIFAR-shaped data, the plain step,
and a detector of traffic between the host and the device."""
from __future__ import annotations

import contextlib
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]   # reportgen from this checkout; the other benchmarks by name
from reportgen.compute import models, optim  # noqa: E402
from reportgen.compute.runtime import seed_everything  # noqa: E402
from reportgen.declare.load import load  # noqa: E402

SHAPE, CLASSES = (3, 32, 32), 100   # CIFAR-100's images
CLIP = 1.0                          # the sync check clips too: clipping reads the norm on the device


@dataclass(frozen=True)
class Size:
    """How big each check runs: the full run on a GPU, `QUICK` on a CPU."""
    width: int = 256          # the talk's nets (their scripts' comments give the talk's size)
    depth: int = 0            # 0: the talk's depths; else the depth of the nets that are timed or synced
    batch: int = 128
    big_batch: int = 1024
    trained: int = 10         # steps before the second set of real gradients
    sync_steps: int = 100     # per epoch, two epochs
    rounds: int = 10          # recording cost: rounds of steps, each variant in turn
    round_steps: int = 20
    warmup: int = 2
    rate_steps: int = 50      # throughput: steps per timing
    repeats: int = 3          # timings, of which the median counts
    profile_steps: int = 5
    compile: bool = True
    plane: int = 51           # landscape: points per side
    samples: int = 10_000
    mlp: tuple[int, int] = (8, 256)   # the landscape's MLP: depth, width


QUICK = Size(width=32, depth=8, batch=16, big_batch=64, trained=2, sync_steps=5, rounds=2, round_steps=2, warmup=1,
             rate_steps=2, repeats=1, profile_steps=1, compile=False, plane=9, samples=256, mlp=(4, 64))


@dataclass(frozen=True)
class Bench:
    """Where and how big the checks run; `tmp` holds their run directories."""
    device: torch.device
    size: Size
    tmp: Path


# the talk's nets, loaded from their experiment scripts at the talk's width and learning rates
TALK = {"mlp80-leaky": ("", (3e-5, 3e-6)), "mlp80-leaky-x2.37": ("", (3e-5, 3e-6)),
        "mlp116-tanh-x1.8": ("base.", (3e-6, 3e-8))}


def talk(name: str, width: int, device: torch.device, depth: int = 0):
    """(experiment, its model on `device`) for CIFAR-shaped input and 100 classes, seeded as a run seeds it;
    `depth` other than 0 replaces the net's."""
    prefix, lr = TALK[name]
    sets = [f"model.width={width}", f"optimizer.lr={lr}"] + [f"model.depth={depth}"] * bool(depth)
    (exp,) = load(ROOT / "experiments" / f"{name}.py", tuple(prefix + s for s in sets))
    exp = getattr(exp, "base", exp)   # a sweep's runs are its base with the grid applied
    seed_everything(exp.seed)
    return exp, models.build(exp.model, SHAPE, CLASSES).to(device)


def cifar_shaped(n: int, device: torch.device, seed: int = 0):
    """n normal 3x32x32 images and labels of 100 classes, drawn on the CPU (the same on any device); on the
    meta device, shapes only."""
    if device.type == "meta":
        return torch.empty(n, *SHAPE, device=device), torch.empty(n, dtype=torch.long, device=device)
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, *SHAPE, generator=gen).to(device),
            torch.randint(0, CLASSES, (n,), generator=gen).to(device))


def trainer(exp, net, total: int = 10 ** 6):
    """The run's optimizer and lr schedule for `net`, as the training loop builds them."""
    opt = optim.build(exp.optimizer, net.parameters())
    return opt, optim.schedule(exp.optimizer, opt, total)


class Plain:
    """Records nothing: train_steps with it is the plain training step."""
    snapshot_steps = frozenset()
    meter = None  # no sharpness estimates

    def step(self, *args, **kwargs):
        return None

    def stepped(self):
        return None

    def epoch(self, epoch: int, **scalars):
        return None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---- host-device traffic -------------------------------------------------------------------------
READS = {"item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__", "__index__", "__complex__",
         "__array__", "__format__"}
SIZED = {"nonzero", "argwhere", "masked_select", "unique", "unique_consecutive"}   # their size is read back


class HostTraffic(TorchFunctionMode):
    """Records, with where it was made, every torch call that moves data between the host and `device` (on
    CUDA each waits for the GPU): reading a tensor back (item, bool, tolist, a copy to the CPU), ops whose
    size is read back (nonzero, a boolean-mask index), and host data sent over (torch.tensor on the device, a
    copy from the CPU, a Python list or CPU tensor as an index). On the meta device it stands in for CUDA:
    the same calls, no GPU needed. A CPU scalar in a device op is not traffic (CUDA passes it as a value)."""

    def __init__(self, device: torch.device):
        super().__init__()
        self.kind, self.calls = device.type, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        what = self.traffic(getattr(func, "__name__", ""), args, kwargs)
        if what:
            self.calls.append(f"{what} at {where()}")
        return func(*args, **kwargs)

    def on(self, t) -> bool:
        return isinstance(t, torch.Tensor) and t.device.type == self.kind

    def traffic(self, name: str, args, kwargs) -> str | None:
        first = args[0] if args else None
        host = lambda t: isinstance(t, torch.Tensor) and t.device.type == "cpu"  # noqa: E731
        if name in READS and self.on(first):
            return f"{name}() reads the device"
        if name in SIZED and self.on(first):
            return f"{name}() reads its size back"
        if name in ("tensor", "as_tensor", "asarray") and torch.device(kwargs.get("device") or "cpu").type == self.kind:
            return f"torch.{name}() sends host data"
        if name == "to" and isinstance(first, torch.Tensor):
            places = (a for a in (*args[1:], kwargs.get("device")) if isinstance(a, (str, torch.device, torch.Tensor)))
            target = next((a.device if isinstance(a, torch.Tensor) else torch.device(a) for a in places), None)
            if target is not None and (self.on(first), target.type) in ((True, "cpu"), (False, self.kind)):
                return f"to({target}) copies between host and device"
        if name == "copy_" and len(args) > 1 and {self.on(args[0]), self.on(args[1])} == {True, False} \
                and (host(args[0]) or host(args[1])):
            return "copy_() between host and device"
        if name in ("__getitem__", "__setitem__") and self.on(first):
            items = args[1] if isinstance(args[1], tuple) else (args[1],)
            for i in items:
                if isinstance(i, (list, tuple)) or (host(i) and i.dim() > 0):
                    return f"{name} with a host index (copied to the device first)"
                if self.on(i) and i.dtype in (torch.bool, torch.uint8):
                    return f"{name} with a boolean mask (its count is read back)"
            if name == "__setitem__" and host(args[2]) and args[2].dim() > 0:
                return "__setitem__ with a host tensor"
        return None


def where() -> str:
    """The innermost caller outside torch and this file, as path:line."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        path = Path(frame.filename)
        if "torch" not in path.parts and path.name != Path(__file__).name and path.name != "contextlib.py":
            return f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{frame.lineno}"
    return "?"


@contextlib.contextmanager
def sync_checker(device: torch.device, mode: str = "error"):
    """CUDA's own detector of synchronising calls ("error": the first one raises), off again afterwards."""
    if device.type != "cuda":
        yield
        return
    torch.cuda.set_sync_debug_mode(mode)
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(0)
