"""One writer at a time: an exclusive lock file beside what is written, dropped when its holder dies."""
from __future__ import annotations

import os
from contextlib import contextmanager, suppress
from pathlib import Path

from .io import RunError


class Busy(RunError):
    """Another process holds the lock: one line naming what it is doing and its pid."""


@contextmanager
def lock(path: Path, busy: str):
    """Hold an exclusive lock on `path` (created if missing) while the block runs, or raise Busy(busy
    + the holder's pid). The kernel drops the lock when its holder dies, even by kill -9."""
    import fcntl
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b", buffering=0) as f:  # unbuffered: nothing left to fail at close on a full disk
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise Busy(f"{busy} (pid {f.read().decode().strip() or '?'})") from None
        with suppress(OSError):  # the pid only informs a second process; a full disk may refuse it
            f.truncate(0)
            f.write(str(os.getpid()).encode())
        try:
            yield
        finally:
            f.truncate(0)
