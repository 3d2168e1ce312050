"""Claims: what a run must show for its page to say so, declared beside the figures and measured from the run
directory alone (reportgen/check/). A run's claims (`Experiment.claims`) and a sweep's (`Sweep.claims`)."""
from __future__ import annotations

from typing import Any, Union

from .spec import require, spec

AT = "'start' (the first logged step), 'end' (the last epoch) or an epoch >= 1"


def _at(claim) -> None:
    epoch = isinstance(claim.at, int) and not isinstance(claim.at, bool) and claim.at >= 1
    require(claim.at in ("start", "end") or epoch, claim, "at", AT)


@spec
class Learns:
    """The net learns: its last epoch's mean training loss ends below `below` times the first step's loss, and
    its final test accuracy is at least `chance` times chance (1 / classes)."""
    below: float = 0.75
    chance: float = 2.0

    def check(self):
        require(0 < self.below < 1, self, "below", "a fraction of the starting loss between 0 and 1")
        require(self.chance > 1, self, "chance", "a multiple of chance accuracy > 1")

    def says(self) -> str:
        return "learns"


@spec
class DoesNotLearn:
    """The net does not learn: its last epoch's mean training loss stays above `above` times the first step's
    loss, and its final test accuracy below `chance` times chance."""
    above: float = 0.95
    chance: float = 1.5

    def check(self):
        require(0 < self.above < 1, self, "above", "a fraction of the starting loss between 0 and 1")
        require(self.chance > 1, self, "chance", "a multiple of chance accuracy > 1")

    def says(self) -> str:
        return "does not learn"


@spec
class GradientSpan:
    """The gradient's span: the last weight layer's median log10|g| minus the first one's, in orders of
    magnitude, lies within `orders` (low, high) at `at` (the last epoch: the median over its logged steps)."""
    at: str | int = "start"
    orders: tuple[float, float] = (-1.0, 1.0)

    def check(self):
        _at(self)
        require(self.orders[0] < self.orders[1], self, "orders", "(low, high) with low < high")

    def says(self) -> str:
        low, high = self.orders
        return f"gradient span last − first layer at {when(self.at)} within {low:g}…{high:g} orders"


@spec
class GradientCollapse:
    """The first weight layer's median log10|g| falls by at least `orders` from the first logged step to the
    last epoch (the median over its logged steps)."""
    orders: float = 3.0

    def check(self):
        require(self.orders > 0, self, "orders", "a number of orders of magnitude > 0")

    def says(self) -> str:
        return f"first layer's gradient collapses by ≥ {self.orders:g} orders"


@spec
class Diverges:
    """The run diverges: its loss became infinite or NaN and training stopped there."""

    def says(self) -> str:
        return "diverges"


def _range(claim, name: str, what: str) -> None:
    low, high = getattr(claim, name)
    require(0 <= low < high, claim, name, f"(low, high) with 0 <= low < high, {what}")


@spec
class AtEdgeOfStability:
    """Record.sharpness: the median of λ_max / its stability limit over the last `tail` of the measurements lies
    within `within` (low, high): the sharpness has risen to the limit and hovers there (Cohen et al. 2021)."""
    NEEDS = "sharpness"   # the Record field it reads
    within: tuple[float, float] = (0.8, 1.5)
    tail: float = 0.5

    def check(self):
        _range(self, "within", "as multiples of the stability limit")
        require(0 < self.tail <= 1, self, "tail", "a fraction of the measurements in (0, 1]")

    def says(self) -> str:
        low, high = self.within
        return f"sharpness over the last {self.tail:.0%} of training within {low:g}…{high:g} × its stability limit"


@spec
class Sharpens:
    """Record.sharpness: the largest λ_max measured is at least `by` times the first one (progressive
    sharpening)."""
    NEEDS = "sharpness"   # the Record field it reads
    by: float = 2.0

    def check(self):
        require(self.by > 1, self, "by", "a factor > 1")

    def says(self) -> str:
        return f"sharpness rises ≥ {self.by:g}× from its first value"


@spec
class DeadUnits:
    """Record.activations: in the last epoch, the fraction of units never positive (the mean over the ReLU-family
    layers) lies within `within` (low, high)."""
    NEEDS = "activations"   # the Record field it reads
    within: tuple[float, float] = (0.3, 1.0)

    def check(self):
        _range(self, "within", "fractions of the units")
        require(self.within[1] <= 1, self, "within", "fractions of the units, at most 1")

    def says(self) -> str:
        return f"dead units in the last epoch within {self.within[0]:.0%}…{self.within[1]:.0%}"


@spec
class Saturated:
    """Record.activations: in the last epoch, the fraction of saturated outputs (Tanh |a| > 0.97, Sigmoid within
    0.03 of 0 or 1; the mean over those layers and the epoch's logged steps) lies within `within` (low, high)."""
    NEEDS = "activations"   # the Record field it reads
    within: tuple[float, float] = (0.5, 1.0)

    def check(self):
        _range(self, "within", "fractions of the outputs")
        require(self.within[1] <= 1, self, "within", "fractions of the outputs, at most 1")

    def says(self) -> str:
        return f"saturated outputs in the last epoch within {self.within[0]:.0%}…{self.within[1]:.0%}"


RunClaim = Union[Learns, DoesNotLearn, GradientSpan, GradientCollapse, Diverges, AtEdgeOfStability, Sharpens,
                 DeadUnits, Saturated]


@spec
class Runs:
    """Claims about the runs of a sweep whose grid values include `where` ({field path: value}), e.g.
    Runs(where={"optimizer.lr": 3e-5}, claims=(Learns(),))."""
    where: dict[str, Any]
    claims: tuple[RunClaim, ...]

    def check(self):
        require(bool(self.where), self, "where", 'a dict of grid fields to values, e.g. {"optimizer.lr": 3e-5}')
        require(bool(self.claims), self, "claims", "one or more claims about a run, e.g. (Learns(),)")


@spec
class BestFalls:
    """For sweeps: the best value of `field` (by the sweep's metric at its last epoch; diverged runs worst)
    never rises as `along` grows, and ends lower than it starts, e.g. the best learning rate falls with depth."""
    field: str = "optimizer.lr"
    along: str = "model.depth"

    def says(self) -> str:
        return f"the best {short(self.field)} falls as {short(self.along)} grows"


SweepClaim = Union[Runs, BestFalls]


def check_recorded(claims, record, owner) -> None:
    """SpecError, one line, when a claim reads a quantity `record` (a Record) does not measure."""
    for claim in claims:
        need = getattr(claim, "NEEDS", None)
        if need is None:
            continue
        require(bool(getattr(record, need)), owner, "claims",
                f"{type(claim).__name__} reads what Record({need}=...) measures; this experiment's Record "
                f"has {need}={getattr(record, need, None)!r}")


def when(at: str | int) -> str:
    """`at` in words: start, end, epoch N."""
    return at if isinstance(at, str) else f"epoch {at}"


def short(path: str) -> str:
    """The last part of a field's path: optimizer.lr -> lr."""
    return path.rsplit(".", 1)[-1]
