"""Ray: one task per unit with its CPU/GPU request, on the cluster at `address` (or $RAY_ADDRESS), else on a
Ray started here for the command. Tasks end with the command that sent them (Ray's drivers own their
tasks), so units are always waited for and never found alive by a later command."""
from __future__ import annotations

import os
from pathlib import Path

from . import EXECUTORS
from .options import Ray
from .units import Handle, Unit, work


def _ray():
    try:
        import ray
    except ImportError:
        from ..declare.spec import SpecError
        raise SpecError("--executor ray: needs Ray; pip install 'reportgen[ray]'") from None
    return ray


@EXECUTORS.register(Ray)
class RayExecutor:
    name = "ray"

    def __init__(self, options: Ray, runs: Path):
        ray = _ray()
        address = options.address or os.environ.get("RAY_ADDRESS")
        self.started = not ray.is_initialized()
        if self.started:
            # a local Ray gets the import path of this process, so its workers import the same reportgen
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                     runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(_paths())}} if not address else None)
        self.logs = _logs(ray)
        self.task = ray.remote(num_cpus=options.cpus, num_gpus=options.gpus, max_retries=0)(work)
        self.threads = max(1, int(options.cpus))

    def submit(self, units: list[Unit]) -> list[Handle]:
        return [Handle(ref.hex(), self.logs, ref) for ref in (self.task.remote(u, self.threads) for u in units)]

    def poll(self, handle: Handle) -> str | None:
        ray = _ray()
        ready, _ = ray.wait([handle.ref], timeout=0)
        if not ready:
            return None
        try:
            ray.get(handle.ref)
        except ray.exceptions.RayTaskError as e:
            cause = e.cause if getattr(e, "cause", None) is not None else e
            return f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}"
        except ray.exceptions.RayError as e:  # the worker died (killed, out of memory): no Python error
            return f"{type(e).__name__}: {str(e).splitlines()[0]}"
        return ""

    def alive(self, record: dict) -> bool:
        return False

    def close(self) -> None:
        if self.started:
            _ray().shutdown()


def _paths() -> list[str]:
    import sys
    return [p for p in sys.path if p]


def _logs(ray) -> str:
    """The workers' log folder of a Ray started here; on a cluster, where `ray logs` finds them."""
    node = getattr(ray._private.worker, "_global_node", None)
    return os.path.join(node.get_session_dir_path(), "logs") if node else "the cluster's logs (`ray logs`)"
