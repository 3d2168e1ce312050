"""One writer at a time, also across the hosts of a cluster: an exclusive lock file beside what is written.

`flock` cannot be relied on on a shared filesystem (Lustre without `-o flock`, NFS without a lock daemon), so
the lock is a file created with O_EXCL, which every POSIX filesystem (NFSv3+ included) makes atomic. It holds
the holder's host, pid and Slurm job id. It is stale, and taken over, when its holder is gone: on the same
host, the pid is not alive; anywhere, the holder's heartbeat (it touches the file every HEARTBEAT seconds)
stopped STALE seconds ago, or an earlier start of the same Slurm job holds it (requeued after preemption).
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path

from .io import RunError

HEARTBEAT, STALE = 10.0, 60.0  # seconds; STALE also covers the hosts' clock skew


class Busy(RunError):
    """Another process holds the lock: one line naming what it is doing and its pid."""


def holder() -> dict:
    """Who this process is, as written into its lock files."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "job": os.environ.get("SLURM_JOB_ID"),
            "restart": int(os.environ.get("SLURM_RESTART_COUNT", 0))}


@contextmanager
def lock(path: Path, busy: str):
    """Hold an exclusive lock on `path` while the block runs, or raise Busy(busy + the holder's pid). A
    holder killed even by kill -9 leaves a file the next taker finds stale."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = json.dumps(holder()).encode()
    while not _create(path, me):
        other = _read(path)
        if other is None:  # deleted by its holder between our two calls: try again
            continue
        if not _stale(path, other):
            raise Busy(f"{busy} (pid {other.get('pid', '?')})")
        _break(path, other)
    beat = _Heartbeat(path)
    try:
        yield
    finally:
        beat.stop()
        with suppress(FileNotFoundError):
            path.unlink()


def held(path: Path) -> bool:
    """Whether a live holder has the lock on `path` now."""
    other = _read(Path(path))
    return other is not None and not _stale(Path(path), other)


def _create(path: Path, content: bytes) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        with suppress(OSError):  # the holder only informs a second process; a full disk may refuse it
            os.write(fd, content)
    finally:
        os.close(fd)
    return True


def _read(path: Path) -> dict | None:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except ValueError:  # written by a holder killed mid-write, or the pid-only files of earlier versions
        return {"pid": text.decode(errors="replace").strip() or "?"}


def _stale(path: Path, other: dict) -> bool:
    me = holder()
    if other.get("job") and other["job"] == me["job"] and other.get("restart", 0) < me["restart"]:
        return True  # the same Slurm job, requeued after preemption: its earlier start is gone
    if other.get("host") == me["host"] and isinstance(other.get("pid"), int):
        return not alive(other["pid"])
    try:
        return time.time() - path.stat().st_mtime > STALE
    except FileNotFoundError:
        return False


def alive(pid: int) -> bool:
    """Whether process `pid` of this host is alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _break(path: Path, seen: dict) -> None:
    """Remove a stale lock, unless it changed meanwhile: a second lock file (itself created with O_EXCL)
    lets only one taker at a time check the content again and delete it."""
    breaker = path.with_name(path.name + ".break")
    if not _create(breaker, b""):
        with suppress(FileNotFoundError):  # a taker killed while breaking; it held it a moment only
            if time.time() - breaker.stat().st_mtime > STALE:
                breaker.unlink()
        time.sleep(0.05)
        return
    try:
        if _read(path) == seen:
            with suppress(FileNotFoundError):
                path.unlink()
    finally:
        breaker.unlink()


class _Heartbeat:
    """Touch the lock file every HEARTBEAT seconds, so that other hosts see its holder alive."""

    def __init__(self, path: Path):
        self.path, self.done = path, threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"heartbeat {path.name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(HEARTBEAT):
            with suppress(OSError):
                os.utime(self.path)

    def stop(self) -> None:
        self.done.set()
        self.thread.join()
