"""What a run trains: activations and models, as a script declares them."""
from __future__ import annotations

import math
from typing import Union

from .factory import Module
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


def _not_tokens(model, data, name: str) -> None:
    require(getattr(data, "vocab", None) is None, model, name,
            f"inputs of numbers; {type(data).__name__} gives token sequences, for a Transformer(...)")


def _images(model, data) -> tuple[int, int, int]:
    _not_tokens(model, data, "channels")
    require(len(data.shape) == 3, model, "channels", f"images (C, H, W), not inputs of shape {data.shape}")
    return data.shape


# ---- models --------------------------------------------------------------------------------------
@spec
class MLP:
    """`depth` Linear layers of `width` units; `multiplier` scales, at initialisation, the weights of
    every Linear that follows an activation (the talk's fix 2: they enter the gradient as a factor);
    `residual`: each hidden Linear in a residual block, h + Linear(activation(h)) (He et al. 2016)."""
    depth: int = 16
    width: int = 256
    activation: Activation = LeakyReLU()
    multiplier: float = 1.0
    bias: bool = True
    residual: bool = False

    def check(self):
        within(self, "depth", 1, MAX_DEPTH)
        within(self, "width", 1, MAX_WIDTH)
        require(self.multiplier > 0, self, "multiplier", "a number > 0")

    def check_input(self, data) -> None:
        _not_tokens(self, data, "depth")

    def parameters(self, data) -> int:
        """How many numbers the network of compute/models.py has for inputs of `data.shape`."""
        shape, classes = data.shape, data.classes
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

    def check_input(self, data) -> None:
        """Whether images of `data.shape` (C, H, W) pass every block: each pools by 2, so a side needs 2**blocks."""
        shape = _images(self, data)
        side = min(shape[1:])
        require(side >= 2 ** len(self.channels), self, "channels",
                f"at most {side.bit_length() - 1} conv-pool blocks for images of {shape[1]}x{shape[2]} "
                "(each halves the side)")

    def parameters(self, data) -> int:
        """How many numbers the network of compute/models.py has for images of `data.shape` (C, H, W)."""
        (c, h, w), n, classes = data.shape, 0, data.classes
        for out in self.channels:
            n += 9 * c * out + out + 2 * out * self.batchnorm
            c, h, w = out, h // 2, w // 2
        return n + (c * h * w + 1) * self.width + (self.width + 1) * classes


@spec
class ResNet:
    """A small CIFAR-style ResNet (He et al. 2016): a 3x3 conv stem of `channels[0]`, then per entry of
    `channels` a stage of `blocks` basic blocks, conv-BN-activation-conv-BN plus the block's input, then the
    activation; each later stage starts by halving the side (its shortcut a strided 1x1 conv and BN); a global
    average pool and the classifier. `skip=False`: the same net without shortcuts (Li et al. 2018's "noshort")."""
    channels: tuple[int, ...] = (16, 32, 64)
    blocks: int = 3
    skip: bool = True
    batchnorm: bool = True
    activation: Activation = ReLU()

    def check(self):
        require(len(self.channels) >= 1 and 1 <= min(self.channels) and max(self.channels) <= MAX_WIDTH, self,
                "channels", f"one or more integers from 1 to {MAX_WIDTH}")
        within(self, "blocks", 1, MAX_DEPTH)

    def check_input(self, data) -> None:
        """Whether images of `data.shape` (C, H, W) pass every stage: each after the first halves the side."""
        shape = _images(self, data)
        side = min(shape[1:])
        require(side >= 2 ** (len(self.channels) - 1), self, "channels",
                f"at most {side.bit_length()} stages for images of {shape[1]}x{shape[2]} (each after the first halves "
                "the side)")

    def parameters(self, data) -> int:
        """How many numbers the network of compute/models.py has for images of `data.shape` (C, H, W)."""
        shape, classes, per = data.shape, data.classes, 2 if self.batchnorm else 1  # a conv's bias, or its batch norm's weight and bias
        c, n = self.channels[0], (9 * shape[0] + per) * self.channels[0]
        for stage, out in enumerate(self.channels):
            for block in range(self.blocks):
                n += (9 * c + per) * out + (9 * out + per) * out
                n += (c + per) * out if self.skip and (c != out or (stage and not block)) else 0
                c = out
        return n + (c + 1) * classes


@spec
class Transformer:
    """A decoder-only Transformer over token sequences (e.g. ModularArithmetic): token and position embeddings of
    `width`, `layers` pre-norm blocks of causal self-attention with `heads` heads and an MLP of 4 x width (GELU),
    a final layer norm; the classes are read at the last position (for "a ∘ b =", the answer)."""
    layers: int = 2
    width: int = 128
    heads: int = 4
    dropout: float = 0.0

    def check(self):
        within(self, "layers", 1, MAX_DEPTH)
        within(self, "width", 1, MAX_WIDTH)
        within(self, "heads", 1, self.width)
        require(self.width % self.heads == 0, self, "heads", f"a divisor of the width {self.width}")
        require(0 <= self.dropout < 1, self, "dropout", "a number in [0, 1)")

    def check_input(self, data) -> None:
        require(getattr(data, "vocab", None) is not None, self, "layers",
                f"token sequences, e.g. ModularArithmetic(...); {type(data).__name__} gives numbers")

    def parameters(self, data) -> int:
        """How many numbers the network of compute/models.py has for sequences of `data.shape` tokens."""
        w, (seq,) = self.width, data.shape
        block = 4 * w + (w + 1) * 3 * w + (w + 1) * w + (w + 1) * 4 * w + (4 * w + 1) * w
        return (data.vocab + seq) * w + self.layers * block + 2 * w + (w + 1) * data.classes


Model = Union[MLP, CNN, ResNet, Transformer, Module]
