"""Datasets a run trains on: a deterministic synthetic image set, CIFAR / MNIST from their own files, modular arithmetic."""
from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import declare as spec
from ..registry import Registry
from . import factory

DATASETS = Registry("dataset")  # fn(data declaration) -> Tensors
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
MNIST_URL = "http://yann.lecun.com/exdb/mnist/"
FASHION_URL = "https://github.com/zalandoresearch/fashion-mnist"
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclass(frozen=True)
class Tensors:
    """A dataset's train and test tensors (images normalised per channel with statistics of the train split);
    `vocab`: the number of distinct tokens, for inputs that are token sequences."""
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]
    vocab: int | None = None


class DataMissing(Exception):
    """The dataset's files are not on disk; the message says which, where and where to get them."""


class DataCorrupt(Exception):
    """A dataset file is there but is not what its format promises; the message names the file."""


def _dataset(x_train, y_train, x_test, y_test, classes) -> Tensors:
    """Tensors from arrays, scaled so each channel has mean 0 and std 1 over the train split."""
    # np.array copies: the result is writable (frombuffer's is not) and can be normalised in place
    x_train, x_test = (torch.from_numpy(np.array(x, np.float32)) for x in (x_train, x_test))
    dims = [0, *range(2, x_train.dim())]      # every axis but the channel
    mean = x_train.mean(dims, keepdim=True)
    std = x_train.std(dims, keepdim=True).clamp_min(1e-12)
    return Tensors(x_train.sub_(mean).div_(std), torch.from_numpy(np.array(y_train, np.int64)),
                   x_test.sub_(mean).div_(std), torch.from_numpy(np.array(y_test, np.int64)), tuple(classes))


def _limit(limit: int | None, n: int, test: bool = False) -> int:
    """How many samples `limit` keeps: N of the train split, N//5 (at least one) of the test split."""
    if limit is None:
        return n
    return min(n, max(1, limit // 5) if test else limit)


# ---- synthetic -----------------------------------------------------------------------------------
def _prototypes(rng: np.random.Generator, classes: int, shape: tuple[int, int, int]) -> np.ndarray:
    """One smooth colour image per class: a few low-frequency waves and two soft blobs, std 1."""
    c, h, w = shape
    yy, xx = np.meshgrid(np.arange(h) / h, np.arange(w) / w, indexing="ij")
    protos = np.zeros((classes, c, h, w))
    for k in range(classes):
        # integer frequencies keep each wave periodic, so a roll only moves it, never tears it
        for fy, fx in rng.integers(-3, 4, size=(4, 2)):
            phase = rng.uniform(0, 2 * np.pi, size=(c, 1, 1))
            protos[k] += rng.normal(size=(c, 1, 1)) * np.sin(2 * np.pi * (fy * yy + fx * xx) + phase)
        for cy, cx in rng.uniform(0, 1, size=(2, 2)):
            # distances on the torus, for the same reason; sigma 0.1 is 3 pixels on 32x32
            dy, dx = abs(yy - cy), abs(xx - cx)
            d2 = np.minimum(dy, 1 - dy) ** 2 + np.minimum(dx, 1 - dx) ** 2
            protos[k] += rng.normal(size=(c, 1, 1)) * 2 * np.exp(-d2 / 0.02)
        protos[k] /= protos[k].std()
    return protos


def _roll(images: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Roll each image [N, C, H, W] by its own (dy, dx) pixels, by one gather instead of a loop."""
    n, _, h, w = images.shape
    rows = (np.arange(h) - dy[:, None]) % h
    cols = (np.arange(w) - dx[:, None]) % w
    return images[np.arange(n)[:, None, None, None], np.arange(images.shape[1])[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def _samples(rng, protos, n, shift, noise, signal):
    """Labels and images: scaled, shifted prototype of the class + a weaker other class + noise."""
    classes = len(protos)
    y = rng.integers(0, classes, n)
    other = (y + rng.integers(1, classes, n)) % classes
    amp = rng.uniform(0.5, 1.5, (n, 1, 1, 1))
    distract = rng.uniform(0.0, 0.5, (n, 1, 1, 1))
    dy, dx = rng.integers(-shift, shift + 1, (2, n))
    x = _roll(amp * protos[y] + distract * protos[other], dy, dx)
    return signal * x + noise * rng.normal(size=x.shape), y


def synthetic(n_train=2048, n_test=512, classes=10, shape=(3, 32, 32), noise=1.0, seed=0) -> Tensors:
    """A deterministic image-classification set that a small MLP learns over a few epochs, not steps."""
    rng = np.random.default_rng(seed)     # a local generator: independent of torch's global RNG
    protos = _prototypes(rng, classes, tuple(shape))
    shift = max(1, min(shape[1:]) // 8)   # 4 pixels on 32x32: enough to blur templates for an MLP
    signal = 0.35                         # per-pixel signal std against noise std `noise`
    x_train, y_train = _samples(rng, protos, n_train, shift, noise, signal)
    x_test, y_test = _samples(rng, protos, n_test, shift, noise, signal)
    return _dataset(x_train, y_train, x_test, y_test, [f"pattern {k}" for k in range(classes)])


# ---- finding files -------------------------------------------------------------------------------
def _find(name: str, folders: list[Path], files: list[str], suffixes: tuple[str, ...], source: str) -> dict:
    """Paths of `files` in the first of `folders` that holds the most of them, or DataMissing."""
    found = [{f: p for f in files for p in [folder / (f + s) for s in suffixes] if p.is_file()}
             for folder in folders]
    best = max(range(len(folders)), key=lambda i: (len(found[i]), -i))
    if len(found[best]) == len(files):
        return found[best]
    if found[best]:     # the folder is right, some files are not there
        where = "missing " + ", ".join(f for f in files if f not in found[best])
    else:
        where = "also looked in " + ", ".join(str(f) for i, f in enumerate(folders) if i != best)
    raise DataMissing(f"{name} not found: expected {', '.join(files)} in {folders[best]} ({where}) "
                      f"- {source}; set data.root")


def _folders(root, layouts: list[str]) -> list[Path]:
    """Where a dataset may sit: under `root` in one of its usual layouts, or in `root` itself."""
    root = Path(root).expanduser()
    inside = [root / layout for layout in layouts]
    # a root named like the dataset's folder is the folder: search it first, so a message names it
    named = root.name in {part for layout in layouts for part in Path(layout).parts}
    return [root, *inside] if named else [*inside, root]


# ---- CIFAR ---------------------------------------------------------------------------------------
# classes: (name, folder, train files, test file, meta file, label key, class-name key)
CIFAR = {10: ("CIFAR-10", "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch",
              "batches.meta", b"labels", b"label_names"),
         100: ("CIFAR-100", "cifar-100-python", ["train"], "test",
               "meta", b"fine_labels", b"fine_label_names")}


class _ArraysOnly(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a dataset file must not be able to run code."""
    # what a pickled array needs: numpy's own _reconstruct (whatever module it lives in now), ndarray, dtype
    allowed = {"_reconstruct": np.zeros(1).__reduce__()[0], "ndarray": np.ndarray, "dtype": np.dtype}

    def find_class(self, module, name):
        # module is numpy.core.multiarray in the official files, numpy._core.multiarray from numpy 2
        if module.split(".")[0] == "numpy" and name in self.allowed:
            return self.allowed[name]
        raise pickle.UnpicklingError(f"refuses to load {module}.{name}")


def _unpickle(path: Path, keys: list[bytes]) -> dict:
    """The dict in a CIFAR pickle, checked to hold `keys`."""
    try:
        with open(path, "rb") as f:
            d = _ArraysOnly(f, encoding="bytes").load()
    except Exception as e:  # a damaged pickle can fail in many ways; all mean the same to the user
        raise DataCorrupt(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from e
    if not isinstance(d, dict) or any(k not in d for k in keys):
        raise DataCorrupt(f"{path}: not a pickle of the expected dict (needs keys {keys})")
    return d


def _cifar_batch(path: Path, label_key: bytes, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images [N, 3, 32, 32] uint8 and labels [N] from one CIFAR batch file."""
    d = _unpickle(path, [b"data", label_key])
    x, y = np.asarray(d[b"data"]), np.asarray(d[label_key])
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        raise DataCorrupt(f"{path}: wrong data: {x.dtype} {x.shape}, expected uint8 rows of 3072 values")
    in_range = np.issubdtype(y.dtype, np.integer) and 0 <= y.min(initial=0) and y.max(initial=0) < classes
    if y.shape != (len(x),) or not in_range:
        raise DataCorrupt(f"{path}: wrong labels: expected {len(x)} integers in 0..{classes - 1}")
    return x.reshape(-1, 3, 32, 32), y   # rows are the R, G, B planes of 32x32, one after another


def cifar(root: str | Path, classes: int = 10, limit: int | None = None) -> Tensors:
    """CIFAR-10 or CIFAR-100 (fine labels) from the 'python version' pickles in `root` or below it."""
    if classes not in CIFAR:
        raise ValueError(f"classes must be 10 or 100, not {classes}")
    name, folder, train, test, meta, label_key, names_key = CIFAR[classes]
    paths = _find(name, _folders(root, [folder]), [*train, test, meta], ("",),
                  f"the 'python version' from {CIFAR_URL}")
    xs, ys = [], []
    for f in train:
        if limit is not None and sum(map(len, ys)) >= limit:
            break      # a quick run need not read the later batches at all
        x, y = _cifar_batch(paths[f], label_key, classes)
        xs.append(x)
        ys.append(y)
    x_test, y_test = _cifar_batch(paths[test], label_key, classes)
    # no division by 255: the per-channel normalisation removes any scale
    n, n_test = _limit(limit, sum(map(len, ys))), _limit(limit, len(y_test), test=True)
    labels = _unpickle(paths[meta], [names_key])[names_key]
    if len(labels) != classes:
        raise DataCorrupt(f"{paths[meta]}: {len(labels)} class names, expected {classes}")
    names = [b.decode() if isinstance(b, bytes) else str(b) for b in labels]
    return _dataset(np.concatenate(xs)[:n], np.concatenate(ys)[:n], x_test[:n_test], y_test[:n_test], names)


# ---- MNIST ---------------------------------------------------------------------------------------
MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def _idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """The uint8 array in an IDX file (raw or .gz), its magic number and size checked."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:   # BadGzipFile is an OSError; a cut-off .gz is an EOFError
            raise DataCorrupt(f"{path}: not a readable gzip file ({e})") from e
    if len(data) < 4 + 4 * ndim:
        raise DataCorrupt(f"{path}: truncated: {len(data)} bytes, shorter than its header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataCorrupt(f"{path}: bad magic number {found}, expected {magic}")
    dims = np.frombuffer(data, ">u4", ndim, 4).astype(np.int64)
    body = len(data) - 4 - 4 * ndim
    if body != dims.prod():
        what = "truncated" if body < dims.prod() else "too long"
        raise DataCorrupt(f"{path}: {what}: {body} bytes of data, header says {tuple(dims)}")
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _mnist_split(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images [N, 1, H, W] and labels [N] of one split, their counts and label range checked."""
    x, y = _idx(images, 2051, 3), _idx(labels, 2049, 1)
    if len(x) != len(y):
        raise DataCorrupt(f"{labels}: {len(y)} labels for {len(x)} images in {images.name}")
    if y.max(initial=0) > 9:
        raise DataCorrupt(f"{labels}: label {y.max()} out of range 0..9")
    return x[:, None], y


def mnist(root: str | Path, fashion: bool = False, limit: int | None = None) -> Tensors:
    """MNIST or Fashion-MNIST from IDX files, raw or gzipped; `root` is their folder or a parent of it."""
    name, layout = ("Fashion-MNIST", "FashionMNIST") if fashion else ("MNIST", "MNIST")
    # torchvision keeps the files in <root>/MNIST/raw; people also point at MNIST/ or raw/ itself
    folders = _folders(root, [f"{layout}/raw", "raw", layout])
    source = f"raw or .gz, from {FASHION_URL if fashion else MNIST_URL}"
    paths = _find(name, folders, MNIST_FILES, ("", ".gz"), source)
    x, y = _mnist_split(paths[MNIST_FILES[0]], paths[MNIST_FILES[1]])
    x_test, y_test = _mnist_split(paths[MNIST_FILES[2]], paths[MNIST_FILES[3]])
    n, n_test = _limit(limit, len(y)), _limit(limit, len(y_test), test=True)
    classes = FASHION_CLASSES if fashion else tuple(str(k) for k in range(10))
    return _dataset(x[:n], y[:n], x_test[:n_test], y_test[:n_test], classes)


def load(d) -> Tensors:
    """The dataset a data declaration describes."""
    return DATASETS[type(d)](d)


@DATASETS.register(spec.ModularArithmetic)
def modular(d: spec.ModularArithmetic) -> Tensors:
    """Every pair (a, b) as the tokens a, op, b, "=" (op = p, "=" = p + 1) with class a ∘ b mod p; a seeded
    `train_fraction` of the pairs for training, the rest for testing (b = 0 left out of division)."""
    a, b = (t.flatten() for t in torch.meshgrid(torch.arange(d.p), torch.arange(d.p), indexing="ij"))
    if d.op == "/":   # a / b = a · b⁻¹, b⁻¹ by Fermat's little theorem
        a, b = a[b > 0], b[b > 0]
        inverse = torch.tensor([pow(v, d.p - 2, d.p) for v in range(d.p)])
    c = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a * inverse[b]}[d.op]() % d.p
    x = torch.stack([a, torch.full_like(a, d.p), b, torch.full_like(a, d.p + 1)], 1)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(d.seed))
    n = round(d.train_fraction * len(x))
    train, test = order[:n], order[n:]
    return Tensors(x[train], c[train], x[test], c[test], tuple(map(str, range(d.p))), vocab=d.p + 2)


DATASETS.register(spec.Synthetic, lambda d: synthetic(d.n_train, d.n_test, d.classes, d.shape, d.noise, d.seed))
DATASETS.register(spec.CIFAR10, lambda d: cifar(Path(d.root).expanduser(), 10, d.limit))
DATASETS.register(spec.CIFAR100, lambda d: cifar(Path(d.root).expanduser(), 100, d.limit))
DATASETS.register(spec.MNIST, lambda d: mnist(Path(d.root).expanduser(), False, d.limit))
DATASETS.register(spec.FashionMNIST, lambda d: mnist(Path(d.root).expanduser(), True, d.limit))

DATASETS.register(spec.Dataset, lambda d: Tensors(*factory.tensors(d)))
