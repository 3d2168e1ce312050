"""What a run trains on: the synthetic set and real datasets read from local folders."""
from __future__ import annotations

from typing import Union

from .spec import require, spec


# ---- data ----------------------------------------------------------------------------------------
@spec
class Synthetic:
    """A deterministic image-classification set: class prototypes, shifts, distractors, noise."""
    n_train: int = 2048
    n_test: int = 512
    classes: int = 10
    shape: tuple[int, int, int] = (3, 32, 32)
    noise: float = 1.0
    seed: int = 0

    def check(self):
        require(self.n_train >= 1, self, "n_train", "an integer >= 1")
        require(self.n_test >= 1, self, "n_test", "an integer >= 1")
        require(self.classes >= 2, self, "classes", "an integer >= 2")
        require(min(self.shape) >= 1, self, "shape", "three positive integers (C, H, W)")
        require(self.noise >= 0, self, "noise", "a number >= 0")


def _check_root(obj):
    require(bool(obj.root), obj, "root", "a folder holding the dataset's files")
    require(obj.limit is None or obj.limit >= 1, obj, "limit", "None or an integer >= 1")


@spec
class CIFAR10:
    root: str = "~/data"
    classes = 10  # not a field: what chance accuracy is (1 / classes)
    limit: int | None = None
    check = _check_root


@spec
class CIFAR100:
    root: str = "~/data"
    classes = 100  # not a field: what chance accuracy is (1 / classes)
    limit: int | None = None
    check = _check_root


@spec
class MNIST:
    root: str = "~/data"
    classes = 10  # not a field: what chance accuracy is (1 / classes)
    limit: int | None = None
    check = _check_root


@spec
class FashionMNIST:
    root: str = "~/data"
    classes = 10  # not a field: what chance accuracy is (1 / classes)
    limit: int | None = None
    check = _check_root


Data = Union[Synthetic, CIFAR10, CIFAR100, MNIST, FashionMNIST]
