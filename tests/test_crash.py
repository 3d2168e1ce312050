"""Crash consistency, tested the way databases test it: a real process killed with SIGKILL at every write
point of a run, a sweep and a build (just before and just after each rename), then run again, must end
exactly where an uninterrupted one ends; a killed build leaves the old site or the new one, never a mix.
The attempts are made by tests/crash.py, one driver process per kind, the three side by side."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reportgen.store.io import read_npz
from tests.crash import files, same

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("run", "sweep", "build")


def differences(ours: Path, theirs: Path) -> list[str]:
    """What differs between two run directories: file names, then contents (arrays exactly, tensors with
    torch.equal, the status but for when it was written, every other file byte for byte). Lock files hold
    only the pid of their last holder, which a kill leaves behind."""
    a, b = ({k: p for k, p in files(f).items() if not k.endswith(".lock")} for f in (ours, theirs))
    if a.keys() != b.keys():
        return [f"files: {sorted(a.keys() ^ b.keys())}"]
    wrong = []
    for name, path in a.items():
        if name.endswith(".npz"):
            equal = same(read_npz(path), read_npz(b[name]))
        elif name.endswith(".npy"):
            equal = np.array_equal(np.load(path), np.load(b[name]), equal_nan=True)
        elif name.endswith(".pt"):
            equal = same(*(torch.load(p, weights_only=False) for p in (path, b[name])))
        elif name.endswith("status.json"):
            equal = {**json.loads(path.read_text()), "updated": 0} == {**json.loads(b[name].read_text()), "updated": 0}
        else:
            equal = path.read_bytes() == b[name].read_bytes()
        if not equal:
            wrong.append(name)
    return wrong


def contents(folder: Path) -> dict[str, bytes]:
    return {name: p.read_bytes() for name, p in files(folder).items()}


@pytest.fixture(scope="module")
def attempts(tmp_path_factory):
    """{kind: (folder, the driver's JSON lines)}, the three drivers run side by side."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    folders = {kind: tmp_path_factory.mktemp(f"crash-{kind}") for kind in KINDS}
    procs = {kind: subprocess.Popen([sys.executable, str(ROOT / "tests" / "crash.py"), kind, str(folders[kind])],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for kind in KINDS}
    done = {}
    for kind, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        done[kind] = folders[kind], [json.loads(line) for line in out.splitlines()]
    return done


@pytest.mark.parametrize("kind", KINDS)
def test_killed_at_every_write_point_then_run_again_equals_an_uninterrupted_one(kind, attempts, capsys):
    folder, lines = attempts[kind]
    points, tries = lines[0]["points"], lines[1:]
    with capsys.disabled():
        print(f"\n{kind}: {points} write points, {len(tries)} kills (before and after each rename)")
    assert points >= {"run": 15, "sweep": 15, "build": 3}[kind]  # every kind of file of each was written
    assert len(tries) == 2 * points
    assert all(t["killed"] == -9 and t["resumed"] == 0 for t in tries), [t for t in tries if t["resumed"]]
    whole = folder / "whole"
    for t in tries:
        here = folder / f"{t['point']}-{t['when']}"
        if kind == "build":
            seen = contents(here / "seen")
            assert seen in (contents(folder / "start" / "site"), contents(whole / "site")), here
            assert contents(here / "site") == contents(whole / "site"), here
            assert not (here / ".site.old").exists() and not (here / ".site.new").exists()
        else:
            run, = (p.parent for p in (whole / "runs" / "crash").glob("*/config.json"))
            assert differences(here / "runs" / "crash" / run.name, run) == [], here
            assert json.loads((run / "status.json").read_text())["state"] == "complete"
