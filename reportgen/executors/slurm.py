"""Slurm through submitit: one job array per submission, each unit requeued after a time limit or preemption
and resumed from its run's checkpoint. Without Slurm (cluster="local" or "auto" on a machine with no
sbatch), submitit's local executor runs the same jobs as subprocesses here."""
from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from ..store.lock import alive
from . import EXECUTORS
from .options import Slurm
from .units import Handle, Unit, work


def _submitit():
    try:
        import submitit
    except ImportError:
        from ..declare.spec import SpecError
        raise SpecError("--executor slurm: needs submitit; pip install 'reportgen[slurm]'") from None
    return submitit


class Job:
    """A unit's body as submitit runs it. Having `checkpoint`, it is requeued with the same unit when Slurm
    stops it for its time limit or a preemption: the run resumes from its own checkpoint."""

    def __call__(self, unit: Unit, threads: int) -> str:
        return work(unit, threads)

    def checkpoint(self, unit: Unit, threads: int):
        return _submitit().helpers.DelayedSubmission(self, unit, threads)


@EXECUTORS.register(Slurm)
class SlurmExecutor:
    def __init__(self, options: Slurm, runs: Path):
        submitit = _submitit()
        self.logs = Path(options.logs or Path(runs) / ".submitit").resolve()
        cluster = None if options.cluster == "auto" else options.cluster
        self.ex = submitit.AutoExecutor(folder=self.logs / "%j", cluster=cluster,
                                        slurm_max_num_timeout=options.requeues)
        self.name = "slurm" if self.ex.cluster == "slurm" else "submitit-local"
        self.threads = options.cpus
        extra = {"slurm_partition": options.partition} if options.partition else {}
        if options.mem_gb:
            extra["mem_gb"] = options.mem_gb
        self.ex.update_parameters(timeout_min=options.time, cpus_per_task=options.cpus, gpus_per_node=options.gpus,
                                  slurm_array_parallelism=options.array_parallelism, name="reportgen",
                                  slurm_additional_parameters=dict(options.sbatch), **extra)

    def submit(self, units: list[Unit]) -> list[Handle]:
        jobs = self.ex.map_array(Job(), units, [self.threads] * len(units))
        return [Handle(job.job_id, job.paths.stderr, job) for job in jobs]

    def poll(self, handle: Handle) -> str | None:
        if not handle.ref.done():
            return None
        error = handle.ref.exception()
        if error is None:
            return ""
        if "has not produced any output" in str(error):
            return "its process ended without a result (killed, out of memory, or its node lost)"
        return _reason(str(error)) or type(error).__name__

    def alive(self, record: dict) -> bool:
        """Whether a job sent by an earlier command is still queued or running (squeue, or its local pid)."""
        job = str(record.get("job", ""))
        if record.get("executor") == "submitit-local":
            return job.isdigit() and record.get("host") in (None, socket.gethostname()) and alive(int(job))
        try:
            found = subprocess.run(["squeue", "-h", "-o", "%i", "-j", job], capture_output=True, text=True,
                                   timeout=60).stdout.split()
        except (OSError, subprocess.TimeoutExpired):
            return True  # cannot tell: better not to send a second job writing the same run
        return job in found

    def close(self) -> None:
        pass


def _reason(text: str) -> str:
    """The last line of the traceback submitit puts between its two rules of dashes, without the module
    path of the exception's class: "DataMissing: CIFAR-10 not found ..." (a job killed: its first line)."""
    blocks = text.split("----------------------")
    lines = [line.strip() for line in (blocks[1] if len(blocks) > 2 else text).splitlines() if line.strip()]
    last = lines[-1] if len(blocks) > 2 and lines else (lines[0] if lines else "")
    kind, sep, message = last.partition(": ")
    return f"{kind.rsplit('.', 1)[-1]}{sep}{message}" if sep and " " not in kind else last
