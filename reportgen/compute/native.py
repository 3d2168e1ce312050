"""The C++ kernels (kernels/*.cpp and the headers they share, package data): built on first use, called by tensor."""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import torch

from ..store.cache import user_cache

KERNELS = Path(__file__).parent / "kernels"


def build(name: str, fallback: str, *flags: str) -> ctypes.CDLL | None:
    """kernels/<name>.cpp compiled with `flags` into the user's cache (once per machine: ~2 s), with OpenMP where
    the compiler has it; None, with a warning naming the `fallback`, without a compiler."""
    source = KERNELS / f"{name}.cpp"
    text = "".join(p.read_text() for p in [*sorted(KERNELS.glob("*.h")), source])
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    tag = hashlib.sha1(f"{text}{cxx}{platform.machine()}{flags}".encode()).hexdigest()[:12]
    path = user_cache() / f"{name}-{tag}.so"
    if not path.exists():
        tmp = path.with_name(f"{path.name}.{os.getpid()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            for openmp in (["-fopenmp"], []):   # Apple's clang, for one, has no -fopenmp
                done = subprocess.run([cxx or "c++", *openmp, "-O3", "-std=c++17", "-shared", "-fPIC", "-pthread",
                                       *flags, str(source), "-o", str(tmp)], capture_output=True, timeout=300)
                if done.returncode == 0:
                    break
            done.check_returncode()
            os.replace(tmp, path)
        except (OSError, subprocess.SubprocessError) as e:
            warnings.warn(f"reportgen: no C++ kernel {name} ({e}); {fallback}", RuntimeWarning)
            return None
    return ctypes.CDLL(str(path))


@functools.lru_cache(maxsize=8)
def _order(sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    n = np.asarray(sizes, np.int64)
    return n, np.argsort(-n, kind="stable").astype(np.int32)


def call(fn, tensors: list[torch.Tensor], *args) -> np.ndarray:
    """Run a per-tensor kernel entry (count, pointers, sizes, largest-first order, threads, *args) on float32
    copies only where a tensor is not one already (half, strided); args are numpy arrays, CPU tensors (their
    data) or numbers. Returns the sizes."""
    xs = [t if t.dtype == torch.float32 and t.is_contiguous() else t.detach().float().contiguous() for t in tensors]
    sizes, order = _order(tuple(x.numel() for x in xs))
    ptrs = pointers(xs)   # held: a temporary's address would outlive it
    fn(len(xs), ptrs.ctypes.data, sizes.ctypes.data, order.ctypes.data, min(torch.get_num_threads(), len(xs)),
       *(a.ctypes.data if isinstance(a, np.ndarray) else a.data_ptr() if isinstance(a, torch.Tensor) else a
         for a in args))
    return sizes


def pointers(tensors: list[torch.Tensor]) -> np.ndarray:
    return np.fromiter((t.data_ptr() for t in tensors), np.uint64, len(tensors))
