"""What a run trains on: the synthetic set and real datasets read from local folders."""
from __future__ import annotations

from typing import Union

from .factory import Dataset
from .spec import require, spec, within

MAX_SAMPLES = 10 ** 7   # of a split
MAX_SIDE = 4096         # pixels of an image side
MAX_VALUES = 10 ** 9    # numbers in a synthetic set, prototypes included: 4 GB as float32
MAX_SEED = 2 ** 32 - 1  # numpy's and torch's generators both take it


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
        within(self, "n_train", 1, MAX_SAMPLES)
        within(self, "n_test", 1, MAX_SAMPLES)
        within(self, "classes", 2, 10_000)
        require(min(self.shape) >= 1 and max(self.shape) <= MAX_SIDE, self, "shape",
                f"three integers (C, H, W) from 1 to {MAX_SIDE}")
        c, h, w = self.shape
        require((self.n_train + self.n_test + self.classes) * c * h * w <= MAX_VALUES, self, "n_train",
                f"at most {MAX_VALUES:,} numbers in the set, (n_train + n_test + classes) x C x H x W")
        require(self.noise >= 0, self, "noise", "a number >= 0")
        within(self, "seed", 0, MAX_SEED)


def _check_root(obj):
    require(bool(obj.root), obj, "root", "a folder holding the dataset's files")
    require(obj.limit is None or obj.limit >= 1, obj, "limit", "None or an integer >= 1")


@spec
class CIFAR10:
    root: str = "~/data"
    limit: int | None = None
    shape = (3, 32, 32)   # of its images (C, H, W), and its number of classes (chance: 1 / classes): not fields
    classes = 10
    check = _check_root


@spec
class CIFAR100:
    root: str = "~/data"
    limit: int | None = None
    shape = (3, 32, 32)   # of its images (C, H, W), and its number of classes (chance: 1 / classes): not fields
    classes = 100
    check = _check_root


@spec
class MNIST:
    root: str = "~/data"
    limit: int | None = None
    shape = (1, 28, 28)   # of its images (C, H, W), and its number of classes (chance: 1 / classes): not fields
    classes = 10
    check = _check_root


@spec
class FashionMNIST:
    root: str = "~/data"
    limit: int | None = None
    shape = (1, 28, 28)   # of its images (C, H, W), and its number of classes (chance: 1 / classes): not fields
    classes = 10
    check = _check_root


OPS = ("+", "-", "*", "/")  # a / b is a · b⁻¹ mod p, for b ≠ 0


@spec
class ModularArithmetic:
    """Every equation "a ∘ b = c" mod a prime `p` (Power et al. 2022), as 4 tokens a, ∘, b, "=" (vocabulary p + 2)
    whose class is c; a seeded `train_fraction` of all pairs is the training split, the rest the test split."""
    p: int = 97
    op: str = "+"
    train_fraction: float = 0.3
    seed: int = 0
    shape = (4,)   # tokens of one sample: not a field

    def check(self):
        within(self, "p", 2, 4096)
        require(all(self.p % k for k in range(2, int(self.p ** 0.5) + 1)), self, "p", "a prime (division needs one)")
        require(self.op in OPS, self, "op", ", ".join(OPS))
        require(0 < self.train_fraction < 1, self, "train_fraction", "a fraction in (0, 1)")
        within(self, "seed", 0, MAX_SEED)

    @property
    def classes(self) -> int:
        return self.p

    @property
    def vocab(self) -> int:
        return self.p + 2


Data = Union[Synthetic, CIFAR10, CIFAR100, MNIST, FashionMNIST, ModularArithmetic, Dataset]
