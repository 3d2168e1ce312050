"""What a run trains: activations and models, as a script declares them."""
from __future__ import annotations

from typing import Union

from .spec import require, spec


# ---- activations -------------------------------------------------------------------------------
@spec
class LeakyReLU:
    negative_slope: float = 0.01


@spec
class ReLU:
    pass


@spec
class Tanh:
    pass


@spec
class GELU:
    pass


@spec
class Identity:
    """No nonlinearity: a deep linear network."""


Activation = Union[LeakyReLU, ReLU, Tanh, GELU, Identity]


# ---- models --------------------------------------------------------------------------------------
@spec
class MLP:
    """`depth` Linear layers of `width` units; `multiplier` scales, at initialisation, the weights of
    every Linear that follows an activation (the talk's fix 2: they enter the gradient as a factor)."""
    depth: int = 16
    width: int = 256
    activation: Activation = LeakyReLU()
    multiplier: float = 1.0
    bias: bool = True

    def check(self):
        require(self.depth >= 1, self, "depth", "an integer >= 1")
        require(self.width >= 1, self, "width", "an integer >= 1")
        require(self.multiplier > 0, self, "multiplier", "a number > 0")


@spec
class CNN:
    """Conv-activation-pool blocks of `channels`, then a hidden Linear of `width` and the classifier."""
    channels: tuple[int, ...] = (16, 32)
    width: int = 64
    activation: Activation = ReLU()
    dropout: float = 0.0
    batchnorm: bool = False

    def check(self):
        require(len(self.channels) >= 1 and min(self.channels) >= 1, self, "channels", "one or more integers >= 1")
        require(self.width >= 1, self, "width", "an integer >= 1")
        require(0 <= self.dropout < 1, self, "dropout", "a number in [0, 1)")


Model = Union[MLP, CNN]
