"""Every bad input tried, with its outcome: one line on stderr naming what and where, exit 1, no traceback,
and nothing written before is changed. Each row runs the real command line (Click's runner) in a fresh
copy of a project whose runs are finished and whose site is built (conftest's `built`)."""
import atexit
import contextlib
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner

from reportgen.store import io as store_io
from reportgen.store.lock import lock
from reportgen.cli import main


def script(name: str, text: str):
    """Setup: write experiments/bad/<name>."""
    def setup(folder: Path):
        (folder / "bad").mkdir(exist_ok=True)
        (folder / "bad" / name).write_text(textwrap.dedent(text))
    return setup


def tiny(**fields) -> str:
    body = ", ".join(f"{k}={v}" for k, v in fields.items())
    return f"from reportgen.declare import *\nEXPERIMENT = Experiment(name='bad', epochs=1, {body})\n"


def project_config(text: str):
    """Setup: the project's reportgen.toml (removed again after the case, so that no other case sees it)."""
    @contextlib.contextmanager
    def written(folder: Path):
        (folder / "reportgen.toml").write_text(text)
        try:
            yield
        finally:
            (folder / "reportgen.toml").unlink()
    return lambda folder: written(folder)


def run_dir(folder: Path) -> Path:
    return next(p for p in (folder / "runs" / "tiny-b").iterdir() if p.is_dir())


def edit_json(name: str, **changes):
    def setup(folder: Path):
        path = run_dir(folder) / name
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return setup


def truncate(name: str):
    def setup(folder: Path):
        path = run_dir(folder) / name
        path.write_bytes(path.read_bytes()[:40])
    return setup


def corrupt_checkpoint(folder: Path):
    truncate("checkpoints/last.pt")(folder)
    edit_json("status.json", state="running")(folder)


def another_version_running(folder: Path):
    edit_json("config.json", format=99)(folder)
    edit_json("status.json", state="running")(folder)


def mnist_with_bad_magic(folder: Path):
    raw = folder / "mnist"
    raw.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 12)
    script("mnist.py", tiny(data="MNIST(root='mnist')"))(folder)


def not_an_image(folder: Path):
    (folder / "photo.png").write_text("this is text, not a PNG")
    script("svd.py", """
        from reportgen.declare import SVDCompression
        EXPERIMENT = SVDCompression(name="svd", image="photo.png")
        """)(folder)


MINE = """
import torch
from torch import nn
def net(shape, classes, width=8):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, classes))
def wrong_classes(shape, classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, classes + 1))
def not_a_module(shape, classes):
    return [nn.Linear(64, classes)]
def flat(n=8):
    return torch.randn(n, 64), torch.zeros(n, dtype=torch.long), torch.randn(n, 32), torch.zeros(n, dtype=torch.long)
def pairs():
    return torch.randn(8, 64), torch.zeros(8, 2, dtype=torch.long), torch.randn(8, 64), torch.zeros(8, dtype=torch.long)
NUMBER = 3
"""


def factory(field: str, call: str):
    """Setup: mine.py (factories) in the project folder and a script declaring `field`=`call`."""
    def setup(folder: Path):
        (folder / "mine.py").write_text(MINE)
        small = {} if field == "data" else {"data": "Synthetic(n_train=8, n_test=8, shape=(1, 8, 8))"}
        script("factory.py", tiny(**{field: call}, **small))(folder)
    return setup


def a_file_where_a_folder_goes(folder: Path):
    (folder / "blocker").write_text("a file")


def full_disk(folder: Path):
    """While the command runs, every write of a run directory fails as on a full disk, with ENOSPC."""
    def no_space(*_):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return mock.patch.object(store_io.os, "fsync", no_space)


def hold_the_site_lock(folder: Path):
    """While the command runs, another build holds the lock of site/."""
    return lock(folder / ".site.lock", "another reportgen build is running on site/")


def template(name: str, text: str | bytes):
    """Setup: the user's own templates/<name>."""
    def setup(folder: Path):
        (folder / "templates").mkdir(exist_ok=True)
        (folder / "templates" / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return setup


@contextlib.contextmanager
def small_disk(folder: Path):
    """While the command runs, full/ is a disk of 16 kB (a tmpfs): real ENOSPC for whatever is written there.
    Afterwards nothing may be left in it but the folders made and the lock of a build."""
    disk = folder / "full"
    if not mount_tmpfs(disk, "16k"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield
        left = [p.name for p in disk.rglob("*") if p.is_file() and p.suffix != ".lock"]
        assert left == [], left
    finally:
        subprocess.run(["umount", str(disk)], check=True)


BUSY = socket.create_server(("127.0.0.1", 0))  # a port some other program listens on, while the tests run
atexit.register(BUSY.close)
BUSY_PORT = str(BUSY.getsockname()[1])
CNN_ON_8X8 = tiny(model="CNN(channels=(8, 8, 8, 8))", data="Synthetic(n_train=8, n_test=8, shape=(1, 8, 8))")
EXTENDS = '{% extends "base.html" %}{% block content %}\n'


# (what is wrong, setup(folder) -> None or a context to run the command in, arguments, what the line says)
CASES = [
    ("syntax error in a script", script("syntax.py", "from reportgen.declare import *\nEXPERIMENT = Experiment(\n"),
     ["run", "bad/syntax.py"], "bad/syntax.py:2: syntax error"),
    ("exception inside a script", script("raises.py", "from reportgen.declare import *\nx = 1\ny = x / 0\n"),
     ["run", "bad/raises.py"], "bad/raises.py:3: ZeroDivisionError: division by zero"),
    ("a field of the wrong type", script("type.py", tiny(batch_size="'large'")),
     ["run", "bad/type.py"], "Experiment.batch_size = 'large': expected int"),
    ("an unknown field", script("field.py", tiny(model="MLP(dept=3)")),
     ["run", "bad/field.py"], "MLP: unknown field 'dept' (allowed: depth, width"),
    ("an unknown class", script("name.py", tiny(model="Perceiver()")),
     ["run", "bad/name.py"], "bad/name.py:2: NameError: name 'Perceiver' is not defined"),
    ("an unknown schedule value", script("sched.py", tiny(schedule="'cosine'")),
     ["run", "bad/sched.py"], "Experiment.schedule = 'cosine': expected Warmup(...) or Cosine(...)"),
    ("an unknown figure", script("figure.py", tiny(figures="('nope',)")),
     ["run", "bad/figure.py"], "Experiment.figures = ('nope',): unknown figure 'nope' (known:"),
    ("an unknown figure option", script("option.py", tiny(figures="('gradient_diagram(per_epoch=True)',)")),
     ["run", "bad/option.py"], "gradient_diagram: no option 'per_epoch' (options: per_step, loss_panel)"),
    ("a figure option out of its choices", script("choice.py", tiny(figures="(\"trajectory_map(projection='tsne')\",)")),
     ["build", "bad/choice.py"], "trajectory_map(projection='tsne'): expected one of 'pca', 'random', 'mds'"),
    ("a figure entry that is not a call", script("call.py", tiny(figures="('gradient_diagram(True)',)")),
     ["run", "bad/call.py"], "'gradient_diagram(True)' is not a figure name, nor name(option=value, ...)"),
    ("a figure listed twice", script("twice.py", tiny(figures="('grad_norm', ' grad_norm')")),
     ["run", "bad/twice.py"], "' grad_norm' is listed twice"),
    ("a claim that is not a claim", script("claim.py", tiny(claims="('learns',)")),
     ["check", "bad/claim.py"], "bad/claim.py:2: Experiment.claims = ('learns',): expected a tuple (Learns(...) or"),
    ("a claim out of its range", script("span.py", tiny(claims="(GradientSpan(orders=(3, 1)),)")),
     ["run", "bad/span.py"], "bad/span.py:2: GradientSpan.orders = (3, 1): allowed: (low, high) with low < high"),
    ("a sweep claim naming a value not in the grid", script("where.py", """
        from reportgen.declare import *
        EXPERIMENT = Sweep(name="bad", base=Experiment(name="b", epochs=1), grid={"optimizer.lr": (1e-3, 1e-2)},
                           claims=(Runs(where={"optimizer.lr": 3e-5}, claims=(Learns(),)),))
        """), ["build", "bad/where.py"], "Runs.where = {'optimizer.lr': 3e-05}: allowed: values of the grid"),
    ("a comparison of one experiment", script("one.py", """
        from reportgen.declare import *
        EXPERIMENT = Compare(name="bad", experiments=(Experiment(name="b", epochs=1),))
        """), ["run", "bad/one.py"], "bad/one.py:3: Compare.experiments = (Experiment(name='b'"),
    ("a comparison naming a script that is not there", script("missing.py", """
        from reportgen.declare import *
        EXPERIMENT = Compare(name="bad", experiments=(experiment("nowhere"), experiment("tiny-a")))
        """), ["run", "bad/missing.py"], "bad/missing.py:3: experiment('nowhere'): no script bad/nowhere.py"),
    ("a comparison that loads itself", script("self.py", """
        from reportgen.declare import *
        EXPERIMENT = Compare(name="bad", experiments=(experiment("self"), Experiment(name="b", epochs=1)))
        """), ["run", "bad/self.py"], "bad/self.py: loads itself (through experiment(...))"),
    ("a comparison's plane out of range", script("plane.py", """
        from reportgen.declare import *
        EXPERIMENT = Compare(name="bad", plane=3, experiments=(Experiment(name="a", epochs=1), Experiment(name="b")))
        """), ["run", "bad/plane.py"], "Compare.plane = 3: allowed: 0 (no loss surface) or 5 to 201 points"),
    ("a comparison's claim naming no experiment of it", script("who.py", """
        from reportgen.declare import *
        EXPERIMENT = Compare(name="bad", experiments=(Experiment(name="a", epochs=1), Experiment(name="b")),
                             claims=(Runs(where={"experiment": "c"}, claims=(Learns(),)),))
        """), ["run", "bad/who.py"], "Runs.where = {'experiment': 'c'}: allowed: values of the grid: experiment in a, b"),
    ("a --figure option of the wrong type", None, ["render", "--figure", "gradient_diagram(per_step='yes')",
     "experiments/tiny-b.py"], "--figure \"gradient_diagram(per_step='yes')\": gradient_diagram(per_step='yes'): expected bool"),
    ("an unknown --set field", None, ["run", "--set", "model.dpth=3", "experiments/tiny-b.py"],
     "no field 'dpth' (allowed: depth, width"),
    ("--set without a value", None, ["run", "--set", "model.depth", "experiments/tiny-b.py"],
     "--set 'model.depth': expected FIELD=VALUE"),
    ("an impossible depth", None, ["run", "--set", "model.depth=-3", "experiments/tiny-b.py"],
     "MLP.depth = -3: allowed: an integer from 1 to 10000"),
    ("an impossible clipping threshold", None, ["run", "--set", "clip=Clip(threshold=-1.0)", "experiments/tiny-b.py"],
     "Clip.threshold = -1.0: allowed: \"auto\" or a gradient norm > 0"),
    ("an impossible warmup", None, ["run", "--set", "schedule=Warmup(steps=0)", "experiments/tiny-b.py"],
     "Warmup.steps = 0: allowed: a number of steps >= 1"),
    ("no such script", None, ["run", "nowhere.py"], "nowhere.py: no such experiment script or folder"),
    ("a factory that does not import", factory("model", "Module(factory='nowhere.models:net')"), ["run", "bad/factory.py"],
     "Module.factory = 'nowhere.models:net': does not import (ModuleNotFoundError: No module named 'nowhere'); allowed:"),
    ("a factory that is not there", factory("model", "Module(factory='mine:resnet')"), ["run", "bad/factory.py"],
     "Module.factory = 'mine:resnet' (mine.py): mine has no 'resnet'; allowed: 'module:function'"),
    ("a factory that is not callable", factory("model", "Module(factory='mine:NUMBER')"), ["run", "bad/factory.py"],
     "Module.factory = 'mine:NUMBER' (mine.py): NUMBER is a int, not callable; allowed: a function returning an nn.Module"),
    ("a factory path that is not a path", factory("model", "Module(factory='mine.net')"), ["run", "bad/factory.py"],
     "Module.factory = 'mine.net': allowed: 'module:function'"),
    ("factory options it does not take", factory("model", "Module(factory='mine:net', options={'depth': 3})"),
     ["run", "bad/factory.py"], "Module.options = {'depth': 3} (mine.py): mine:net does not take them (got an unexpected"),
    ("a factory returning no module", factory("model", "Module(factory='mine:not_a_module')"), ["run", "bad/factory.py"],
     "Module.factory = 'mine:not_a_module' (mine.py): returned a list; allowed: a function returning an nn.Module"),
    ("a model whose output is not the classes", factory("model", "Module(factory='mine:wrong_classes')"),
     ["run", "bad/factory.py"], "Module.factory = 'mine:wrong_classes' (mine.py): its output is (2, 11) for a batch of 2; "
     "allowed: [batch, classes] = [2, 10]"),
    ("a dataset whose splits differ in shape", factory("data", "Dataset(factory='mine:flat')"), ["run", "bad/factory.py"],
     "Dataset.factory = 'mine:flat' (mine.py): returned x_train (8, 64), y_train (8,), x_test (8, 32), y_test (8,); allowed:"),
    ("a dataset of labels that are not a vector", factory("data", "Dataset(factory='mine:pairs')"), ["run", "bad/factory.py"],
     "Dataset.factory = 'mine:pairs' (mine.py): returned x_train (8, 64), y_train (8, 2),"),
    ("an optimizer that is not one", script("optim.py", tiny(optimizer="Optim(name='RMSProp')")), ["run", "bad/optim.py"],
     "bad/optim.py: Optim.name = 'RMSProp': allowed: ASGD, Adadelta,"),
    ("an optimizer option it does not take", script("opt.py", tiny(optimizer="Optim(name='RMSprop', options={'beta': 0.9})")),
     ["run", "bad/opt.py"], "bad/opt.py: Optim.options = {'beta': 0.9}: RMSprop refuses them"),
    ("a missing dataset", script("cifar.py", tiny(data="CIFAR10(root='no-data-here')")),
     ["run", "bad/cifar.py"], "CIFAR-10 not found: expected data_batch_1"),
    ("a corrupt dataset file", mnist_with_bad_magic, ["run", "bad/mnist.py"],
     "train-images-idx3-ubyte: bad magic number 2049, expected 2051"),
    ("an image that is not an image", not_an_image, ["run", "bad/svd.py"],
     "SVDCompression.image = 'photo.png': not an image file"),
    ("an unwritable output folder", a_file_where_a_folder_goes,
     ["build", "experiments/tiny-b.py", "--out", "blocker/site"], "error: blocker: File exists"),
    ("an unwritable runs folder", a_file_where_a_folder_goes,
     ["run", "experiments/tiny-a.py", "--runs", "blocker/runs"], "blocker/runs/tiny-a: Not a directory"),
    ("a run directory from another version", edit_json("config.json", format=99),
     ["render", "experiments/tiny-b.py"], "run format 99, this reportgen reads format 1"),
    ("a run from another version, resumed", another_version_running, ["run", "experiments/tiny-b.py"],
     "run format 99, this reportgen reads format 1"),
    ("a truncated epoch chunk", truncate("epochs/000001.npz"), ["render", "experiments/tiny-b.py"],
     "000001.npz: corrupt or truncated array file"),
    ("a corrupt status file", truncate("status.json"), ["run", "experiments/tiny-b.py"],
     "status.json: corrupt JSON"),
    ("a truncated checkpoint", corrupt_checkpoint, ["run", "experiments/tiny-b.py"],
     "last.pt: corrupt or truncated checkpoint"),
    ("a full disk during a run", full_disk, ["run", "--set", "epochs=5", "experiments/tiny-a.py"],
     "env.json: No space left on device"),
    ("two builds at once", hold_the_site_lock, ["build", "experiments/tiny-b.py"],
     "another reportgen build is running on site/ (pid "),
    ("an unknown executor option", None, ["run", "--executor", "slurm", "-E", "gpu=1", "experiments/tiny-b.py"],
     "--executor-option 'gpu=1': expected KEY=VALUE with KEY one of partition, gpus, cpus"),
    ("an executor option of the wrong type", None,
     ["build", "--executor", "slurm", "-E", "gpus=two", "experiments/tiny-b.py"],
     "--executor-option 'gpus=two': Slurm.gpus = 'two': expected int"),
    ("an executor option out of range", None, ["run", "--executor", "ray", "-E", "cpus=0", "experiments/tiny-b.py"],
     "--executor-option 'cpus=0': Ray.cpus = 0: allowed: a number of CPUs > 0 and <= 1024"),
    ("a bad executor in the project config", project_config('[executor]\nname = "slurm"\ntime = 0\n'),
     ["run", "experiments/tiny-b.py"], "reportgen.toml [executor]: Slurm.time = 0: allowed: an integer from 1 to"),
    ("a project config that is not TOML", project_config("[executor\n"), ["build", "experiments/tiny-b.py"],
     "reportgen.toml: not valid TOML"),
    ("--no-wait with Ray", None, ["run", "--executor", "ray", "--no-wait", "experiments/tiny-b.py"],
     "--no-wait: Ray's tasks end with the command that sent them; use --executor slurm"),
    ("--jobs with a cluster", None, ["run", "--executor", "slurm", "--jobs", "2", "experiments/tiny-b.py"],
     "--jobs 2: runs side by side on this machine only"),
    ("an image too small for the CNN's poolings", script("cnn.py", CNN_ON_8X8), ["run", "bad/cnn.py"],
     "CNN.channels = (8, 8, 8, 8): allowed: at most 3 conv-pool blocks for images of 8x8"),
    ("an absurd number of epochs", None, ["run", "--set", "epochs=10**30", "experiments/tiny-b.py"],
     "Experiment.epochs = 1000000000000000000000000000000: allowed: an integer from 1 to 1000000"),
    ("a model no device could hold", None, ["run", "--set", "model=MLP(depth=1000, width=65536)", "experiments/tiny-b.py"],
     "4.29e+12 parameters for data of shape (1, 8, 8); allowed: at most 1e+10"),
    ("a format with no encoder", None, ["render", "--format", "gif,webp", "experiments/tiny-b.py"],
     "--format 'webp': no such format (allowed: png, gif, mp4)"),
    ("no frames per second", None, ["render", "--fps", "0", "experiments/tiny-b.py"],
     "--fps 0: allowed: a number of frames per second > 0 and <= 1000"),
    ("negative frames per second in a build", None, ["build", "--fps", "-2"],
     "--fps -2: allowed: a number of frames per second > 0 and <= 1000"),
    ("a syntax error in a template", template("index.html", EXTENDS + "{% if %}\n{% endblock %}"), ["build"],
     "templates/index.html:2: syntax error: Expected an expression, got 'end of statement block'"),
    ("an undefined name in a template", template("about.html", EXTENDS + "\n{{ nothing.here }}\n{% endblock %}"),
     ["build"], "templates/about.html:3: 'nothing' is undefined"),
    ("a template extending one that is not there", template("about.html", '{% extends "gone.html" %}'), ["build"],
     "templates/about.html:1: no template 'gone.html' to extend or include"),
    ("a template that is not text", template("about.html", b"\xff" + EXTENDS.encode()), ["build"],
     "templates/about.html: not UTF-8 text (byte 0: 0xff)"),
    ("a busy port", None, ["serve", "--no-watch", "--port", BUSY_PORT],
     f"cannot serve on 127.0.0.1:{BUSY_PORT}: Address already in use"),
    ("a port out of range", None, ["serve", "--no-watch", "--port", "70000"],
     "--port 70000: allowed: 0 (any free port) to 65535"),
    ("a full disk while rendering a GIF", small_disk, ["render", "--out", "full/renders", "experiments/tiny-b.py"],
     "error: full/renders/tiny-b/gradient_diagram.gif: No space left on device"),
    ("a full disk while rendering an MP4", small_disk,
     ["render", "--format", "mp4", "--out", "full/renders", "experiments/tiny-b.py"],
     "error: full/renders/tiny-b/gradient_diagram.mp4: No space left on device"),
    ("a full disk while building", small_disk, ["build", "--out", "full/site"],
     "error: full/.site.new/tiny-a/gradient_diagram.gif: No space left on device"),
    ("a plot that is not a PNG", None, ["calibrate", "--plot", "calibration.svg"],
     "--plot calibration.svg: allowed: a file name ending in .png"),
    ("a full disk under calibrate's plot", small_disk, ["calibrate", "--depth", "4", "--width", "8", "--plot",
     "full/calibration.png"], "error: full/calibration.png: No space left on device"),
]


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("what, setup, args, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_and_damages_nothing(what, setup, args, words, built):
    folder = built  # the working directory
    context = (setup(folder) if setup else None) or contextlib.nullcontext()
    before = contents(folder)
    with context:
        result = CliRunner().invoke(main, args)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1, (what, result.output, result.exception)
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], (what, result.stderr)
    assert "Traceback" not in result.output
    after = contents(folder)
    assert {k: v for k, v in after.items() if k in before} == before, what


def mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir()
    try:
        return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True).returncode == 0
    except OSError:
        return False


def test_a_really_full_disk_stops_run_build_and_render_with_one_line_and_keeps_every_file(built_once, tmp_path):
    """The full disk for real, where a tmpfs can be mounted (root): fill it, then run, build and render on it;
    each names the file it could not write."""
    disk = tmp_path / "disk"
    if not mount_tmpfs(disk, "8m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        shutil.copytree(built_once, disk / "project")
        with open(disk / "filler", "wb", buffering=0) as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 4096)
        before = contents(disk / "project")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        for args, file in ((["run", "--set", "epochs=5", "experiments/tiny-a.py"], "env.json"),
                           (["build"], ".site.new/assets/style.css"),
                           (["render", "experiments/tiny-b.py"], "renders/tiny-b/gradient_diagram.gif")):
            result = subprocess.run([sys.executable, "-m", "reportgen", *args], cwd=disk / "project",
                                    capture_output=True, text=True, env=env)
            lines = result.stderr.strip().splitlines()
            assert result.returncode == 1 and len(lines) == 1, result.stderr
            assert lines[0].endswith(f"{file}: No space left on device"), result.stderr
        after = contents(disk / "project")
        assert {k: v for k, v in after.items() if k in before} == before
    finally:
        subprocess.run(["umount", str(disk)], check=True)
