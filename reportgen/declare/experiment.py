"""The training run a script declares, what it records, and runs recorded by a user's own loop."""
from __future__ import annotations

import re
from dataclasses import field
from typing import Any

from .claims import DoesNotLearn, Learns, RunClaim, check_recorded
from .data import MAX_SEED, Data, Synthetic
from .model import MAX_PARAMETERS, MLP, Model
from .optim import Adam, Clip, Optimizer, Schedule
from .spec import SpecError, require, spec, within

MAX_EPOCHS = 10 ** 6
MAX_STEPS = 10 ** 9      # a number of optimizer steps


# ---- recording -----------------------------------------------------------------------------------
@spec
class Sharpness:
    """The training loss's sharpness on a fixed batch (its first `batch` training samples): the top Hessian
    eigenvalue by `iterations` steps of Lanczos on Hessian-vector products, warm-started from the last
    eigenvector (for Adam: of the preconditioned Hessian), and a Hutchinson estimate of the Hessian's trace
    from `probes` Rademacher vectors (0: none); at the start and every `every` epochs, or every `steps` steps."""
    every: int = 1
    steps: int = 0               # > 0: every this many optimizer steps instead of epochs
    iterations: int = 20
    batch: int = 256
    probes: int = 10

    def check(self):
        within(self, "every", 1, MAX_EPOCHS)
        within(self, "steps", 0, MAX_STEPS)
        within(self, "iterations", 2, 1000)
        within(self, "batch", 1, 2 ** 20)
        within(self, "probes", 0, 10_000)


@spec
class Record:
    """How often to measure. `every=0` chooses the gradient-log interval from `disk_mb`. At the logged steps,
    `updates` adds each tensor's update/weight ratio, `activations` the activation modules' health;
    `sharpness` measures the Hessian's top eigenvalue and trace."""
    every: int = 0
    disk_mb: float = 20.0
    snapshots: int = 16          # weight snapshots per epoch in the first epoch ("preparatory phase")
    snapshot_every: int = 1      # then one every this many epochs
    checkpoint_every: int = 1    # epochs
    updates: bool = False
    activations: bool = False
    sharpness: Sharpness | None = None
    # added after runs were made: left out of the run id at these values, so those runs keep their ids
    ADDED = {"updates": False, "activations": False, "sharpness": None}

    def check(self):
        require(0 <= self.every <= MAX_STEPS, self, "every", f"0 (automatic) or a number of steps up to {MAX_STEPS}")
        require(0 < self.disk_mb <= 10 ** 6, self, "disk_mb", "a number of megabytes > 0 and <= 1000000")
        within(self, "snapshots", 0, 10_000)
        within(self, "snapshot_every", 1, MAX_EPOCHS)
        within(self, "checkpoint_every", 1, MAX_EPOCHS)


@spec
class Landscape:
    """Loss landscapes and trajectory projections, computed once training ends (reportgen/projection.py)
    from the weight snapshots and stored in the run. Lines L(θ + a·d1) and planes L(θ + a·d1 + b·d2) for
    a, b in [-span, span], d1 and d2 seeded Gaussian directions normalised per filter / per layer / not
    ("none"; Li et al. 2018), around the final weights, the initial and final ("ends"), or every epoch's;
    the trajectory's PCA plane, spanning the path; `samples` of each split; 0 points: no line / plane."""
    directions: str = "filter"
    include_1d: bool = False     # biases and normalisation parameters move too (else a zero direction)
    line: int = 41               # points along a line (train and held-out samples)
    plane: int = 15              # points along each side of a plane (train samples)
    span: float = 1.0
    pca_plane: bool = True       # the loss over the trajectory's PCA plane, for the path to move over
    around: str = "epochs"
    samples: int = 256
    recompute_bn: bool = False   # batch norm with each point's own batch statistics, not the stored ones
    seed: int = 0

    def check(self):
        require(self.directions in ("filter", "layer", "none"), self, "directions", "filter, layer or none")
        require(self.line == 0 or 3 <= self.line <= 10_001, self, "line", "0 (none) or an integer from 3 to 10001")
        require(self.plane == 0 or 3 <= self.plane <= 1001, self, "plane", "0 (none) or an integer from 3 to 1001")
        require(self.span > 0, self, "span", "a number > 0")
        require(self.around in ("final", "ends", "epochs"), self, "around", "final, ends or epochs")
        within(self, "samples", 1, 10 ** 6)
        within(self, "seed", 0, MAX_SEED)




# ---- the experiment ------------------------------------------------------------------------------
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
DEVICES = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@spec
class Experiment:
    """A training run: the model, its data and optimizer, how long, what to record and draw."""
    name: str
    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    model: Model = MLP()
    data: Data = Synthetic()
    optimizer: Optimizer = Adam()
    schedule: Schedule | None = None
    clip: Clip | None = None
    epochs: int = 10
    batch_size: int = 128
    seed: int = 0
    device: str = "auto"
    record: Record = Record()
    landscape: Landscape | None = None
    # the tuning playbook's diagnostics come by default: gradient norm and learning rate beside the loss
    figures: tuple[str, ...] = ("gradient_diagram", "grad_norm", "lr_schedule")
    claims: tuple[RunClaim, ...] = ()  # what the run must show (declare/claims.py); its page says held or failed

    def check(self):
        require(bool(NAME.match(self.name)), self, "name", "lower-case letters, digits, '.', '_', '-'")
        within(self, "epochs", 1, MAX_EPOCHS)
        within(self, "batch_size", 1, 2 ** 20)
        within(self, "seed", 0, MAX_SEED)
        require(bool(DEVICES.match(self.device)), self, "device", "auto, cpu, mps, cuda or cuda:N")
        check_recorded(self.claims, self.record, self)
        if self.data.classes is None and any(isinstance(c, (Learns, DoesNotLearn)) for c in self.claims):
            raise SpecError(f"Experiment.claims = {self.claims!r}: a claim about chance needs the number of classes; "
                            "allowed: with Dataset(classes=...)")
        if self.data.shape is None:  # your own dataset: its shape is known once it is loaded
            return
        self.model.check_input(self.data)
        n = self.model.parameters(self.data)
        if n > MAX_PARAMETERS:
            raise SpecError(f"Experiment.model = {self.model!r}: {n:.3g} parameters for data of shape "
                            f"{self.data.shape}; allowed: at most {MAX_PARAMETERS:.0e}")


@spec
class Recorded:
    """A run that a user's own training loop recorded with `reportgen.Recorder`: no script; `config` is the
    dict the loop gave, kept as plain JSON data (`from_dict` leaves it alone: a "type" key in it is data)."""
    name: str
    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    figures: tuple[str, ...] = ("gradient_diagram",)
    PLAIN = ("config",)

    def check(self):
        require(bool(NAME.match(self.name)), self, "name", "lower-case letters, digits, '.', '_', '-'")
