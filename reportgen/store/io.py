"""Atomic writes (a temporary file renamed into place) and reads that name the damaged file."""
from __future__ import annotations

import errno
import io
import json
import os
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


# the disk's errors, not the program's: a full or read-only disk, or a folder the user may not write
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


class RunError(Exception):
    """A run directory that cannot be read: one line naming the file and what is wrong."""


def write_bytes(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with naming(path), os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def naming(path: Path):
    """Inside, an OSError that names no file names `path`: a full disk fails in write() or close(), which
    know no name, and the one line the user gets must say which file could not be written."""
    try:
        yield
    except OSError as e:
        if e.filename is None:
            e.filename = str(path)
        raise


def write_json(path: Path, obj) -> None:
    write_bytes(path, json.dumps(obj, indent=1, allow_nan=True).encode())


def write_npz(path: Path, **arrays) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes(path, buf.getvalue())


def write_npy(path: Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array)
    write_bytes(path, buf.getvalue())


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{path}: corrupt JSON ({e})") from None


def read_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """One array file (a weight snapshot), or RunError naming it when it is missing, cut short or not one."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None)
    except FileNotFoundError:
        raise RunError(f"{path}: missing") from None
    except (ValueError, OSError, EOFError) as e:
        raise RunError(f"{path}: corrupt or truncated array file ({e})") from None


def read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise RunError(f"{path}: missing") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise RunError(f"{path}: corrupt or truncated array file ({e})") from None
