"""What a run trains: activations and models, as a script declares them."""
from __future__ import annotations

import math
from typing import Union

from .spec import require, spec, within

MAX_DEPTH = 10_000     # layers
MAX_WIDTH = 2 ** 20    # units of a hidden layer, channels of a convolution
MAX_PARAMETERS = 10 ** 10  # 40 GB as float32, before gradients and optimizer state: more than any one device


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
        within(self, "depth", 1, MAX_DEPTH)
        within(self, "width", 1, MAX_WIDTH)
        require(self.multiplier > 0, self, "multiplier", "a number > 0")

    def parameters(self, shape: tuple[int, ...], classes: int) -> int:
        """How many numbers the network of compute/models.py has for inputs of `shape`."""
        sizes = [math.prod(shape)] + [self.width] * (self.depth - 1) + [classes]
        return sum(a * b + b * self.bias for a, b in zip(sizes, sizes[1:]))


@spec
class CNN:
    """Conv-activation-pool blocks of `channels`, then a hidden Linear of `width` and the classifier."""
    channels: tuple[int, ...] = (16, 32)
    width: int = 64
    activation: Activation = ReLU()
    dropout: float = 0.0
    batchnorm: bool = False

    def check(self):
        require(len(self.channels) >= 1 and 1 <= min(self.channels) and max(self.channels) <= MAX_WIDTH, self,
                "channels", f"one or more integers from 1 to {MAX_WIDTH}")
        within(self, "width", 1, MAX_WIDTH)
        require(0 <= self.dropout < 1, self, "dropout", "a number in [0, 1)")

    def check_input(self, shape: tuple[int, int, int]) -> None:
        """Whether images of `shape` (C, H, W) pass every block: each pools by 2, so a side needs 2**blocks."""
        side = min(shape[1:])
        require(side >= 2 ** len(self.channels), self, "channels",
                f"at most {side.bit_length() - 1} conv-pool blocks for images of {shape[1]}x{shape[2]} "
                "(each halves the side)")

    def parameters(self, shape: tuple[int, int, int], classes: int) -> int:
        """How many numbers the network of compute/models.py has for images of `shape` (C, H, W)."""
        (c, h, w), n = shape, 0
        for out in self.channels:
            n += 9 * c * out + out + 2 * out * self.batchnorm
            c, h, w = out, h // 2, w // 2
        return n + (c * h * w + 1) * self.width + (self.width + 1) * classes


Model = Union[MLP, CNN]
