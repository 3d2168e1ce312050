"""End to end: scripts -> runs -> GIFs -> site, incremental and atomic, checked in the files it writes."""
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import imageio_ffmpeg
import pytest
from click.testing import CliRunner

from reportgen import pipeline
from reportgen.cli import main
from reportgen.site import cache
from reportgen.draw.figures.gradient_diagram import GradientDiagram
from tests.browser import check_links, check_no_local_paths

EPOCHS = {"tiny-a": 3, "tiny-b": 2}


def referenced(html: str) -> list[str]:
    return re.findall(r'(?:src|href|data-play)="([^"#:]+)"', html)


def pages(out: Path) -> list[Path]:
    return [out / "index.html", out / "about.html"] + [out / n / "index.html" for n in EPOCHS]


def test_every_page_links_files_that_exist_and_every_animation_decodes(built_once):
    out = built_once / "site"
    assert (out / ".nojekyll").exists()
    for page in pages(out):
        for link in referenced(page.read_text()):
            target = (page.parent / link).resolve()
            assert target.exists(), f"{page.name} links to missing {link}"
            if target.suffix == ".gif":
                frames = iio.imread(target, index=None)
                assert frames.shape == (EPOCHS[target.parent.name], 450, 800, 3), target
    for name, epochs in EPOCHS.items():
        reader = imageio_ffmpeg.read_frames(str(out / name / "gradient_diagram.mp4"))
        meta = next(reader)
        assert meta["size"] == (800, 450) and sum(1 for _ in reader) >= epochs
    assert check_links(out) == []


def test_titles_from_scripts_are_escaped_and_no_local_paths_leak(built_once):
    out = built_once / "site"
    for page in (out / "index.html", out / "tiny-a" / "index.html"):
        text = page.read_text()
        assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert check_no_local_paths(out, extra=[built_once]) == []


def test_a_runs_failure_and_data_roots_show_no_machine_paths(built):
    import torch.nn.functional as F

    import reportgen
    from tests.loops import batch, mlp
    model, (x, y) = mlp(), batch()
    home, here = Path.home(), Path.cwd()
    loop = {"data_root": str(here / "data" / "cifar"), "cache": str(home / ".cache" / "ours")}
    with pytest.raises(FileNotFoundError):
        with reportgen.Recorder(model, "runs/own-loop", loop, every=1) as rec:
            F.cross_entropy(model(x), y).backward()
            rec.step(loss=1.0)
            open(here / "data" / "cifar" / "data_batch_1", "rb")  # the user's loop fails on its data
    assert str(here) in rec.run.status["message"]
    pipeline.build()
    page = (built / "site" / "own-loop" / "index.html").read_text()
    assert "FileNotFoundError: [Errno 2] No such file or directory: &#39;data/cifar/data_batch_1&#39;" in page
    assert "<td>data/cifar</td>" in page and f"<td>~{os.sep}.cache{os.sep}ours</td>" in page
    assert check_no_local_paths(built / "site", extra=[built]) == []


def test_experiment_page_offers_downloads_and_embed_snippets(built_once):
    page = (built_once / "site" / "tiny-b" / "index.html").read_text()
    downloads = re.findall(r'<a class="button" href="([^"]+)" download>(\w+) <small>(\d+ kB)</small>', page)
    assert [(f, fmt) for f, fmt, _ in downloads if f.startswith("gradient_diagram.")] == [
        ("gradient_diagram.gif", "GIF"), ("gradient_diagram.mp4", "MP4"), ("gradient_diagram.png", "PNG")]
    snippets = [html.unescape(s) for s in re.findall(r'<code id="embed-gradient_diagram-\d">(.*?)</code>', page, re.S)]
    assert snippets == ["![Gradient diagram of Tiny B](gradient_diagram.gif)",
                        '<img src="gradient_diagram.gif" alt="Gradient diagram of Tiny B">',
                        '<section>\n  <video src="gradient_diagram.mp4" class="r-stretch" data-autoplay loop muted '
                        'playsinline></video>\n</section>']
    assert "relative to this page" in page
    assert page.count(' alt="Gradient diagram of Tiny B"') == 1  # the figure; the card's is on the gallery


def test_a_second_build_reuses_every_run_and_figure(built):
    gif = built / "site" / "tiny-b" / "gradient_diagram.gif"
    before = gif.stat().st_mtime_ns
    report = pipeline.build()
    assert report.ran == [] and report.rendered == [] and "tiny-b/gradient_diagram" in report.reused
    assert gif.stat().st_mtime_ns == before
    script = built / "experiments" / "tiny-b.py"
    script.write_text(script.read_text().replace("'Tiny B'", "'Tiny B, renamed'"))
    report = pipeline.build()
    assert report.ran == [] and {r.split("/")[0] for r in report.rendered} == {"tiny-b"}
    assert "tiny-b/gradient_diagram" in report.rendered and "tiny-a/gradient_diagram" in report.reused
    assert "Tiny B, renamed" in (built / "site" / "index.html").read_text()


def test_clean_runs_and_renders_everything_again(built):
    report = pipeline.build(clean=True)
    assert sorted(report.ran) == ["tiny-a", "tiny-b"] and report.reused == []
    assert {"tiny-a/gradient_diagram", "tiny-b/gradient_diagram"} <= set(report.rendered)


def test_a_run_redone_apart_from_the_build_is_drawn_again(built):
    """`reportgen run --clean` then `build`: the same id, state and step, but a run written anew (with other
    code it may hold other numbers): its figures are drawn again, the other run's reused."""
    from reportgen.compute.execute import execute
    entry = next(e for e in pipeline.gather(("experiments",), Path("runs")) if e.name == "tiny-b")
    execute(entry, clean=True)
    report = pipeline.build()
    assert report.ran == [] and "tiny-b/gradient_diagram" in report.rendered
    assert "tiny-a/gradient_diagram" in report.reused


def test_a_no_op_build_imports_neither_torch_nor_a_figure(built):
    code = ("import sys; from reportgen import pipeline; r = pipeline.build(); assert r.reused and not r.rendered, r; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('reportgen.draw.figures.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=built,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_figure_key_follows_the_code_it_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "reportgen"
    files = {"__init__.py": "VERSION = 1", "figures/__init__.py": "def figure(): pass",
             "figures/f.py": "from . import figure\nfrom ..a import x\n\ndef draw():\n    from reportgen.b import y\n",
             "a.py": "from .c import z\nx = 1", "b.py": "y = 1", "c.py": "z = 1", "unused.py": "w = 1"}
    for name, text in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    monkeypatch.setattr(cache, "PACKAGE", pkg)
    before = cache.code_hash(pkg / "figures" / "f.py")
    for name, follows in (("unused.py", False), ("__init__.py", False), ("a.py", True), ("b.py", True),
                          ("c.py", True), ("figures/__init__.py", True)):
        (pkg / name).write_text(files[name] + "\n# edited\n")
        now = cache.code_hash(pkg / "figures" / "f.py")
        assert (now != before) == follows, name
        before = now


def test_a_failing_build_leaves_the_previous_site(built):
    before = (built / "site" / "index.html").read_text()
    (built / "experiments" / "tiny-b.py").write_text("EXPERIMENT = oops")
    with pytest.raises(Exception, match="tiny-b.py"):
        pipeline.build()
    assert (built / "site" / "index.html").read_text() == before
    assert not (built / ".site.new").exists()


def a_bug_in_the_gradient_diagram(monkeypatch):
    original = GradientDiagram.update

    def update(self, i):
        if i == 1:  # mid-way through the figure
            raise ZeroDivisionError("a bug in a figure")
        original(self, i)
    monkeypatch.setattr(GradientDiagram, "update", update)


def test_a_figure_that_fails_is_shown_failed_and_the_rest_is_written(built, monkeypatch):
    script = built / "experiments" / "tiny-a.py"
    script.write_text(script.read_text().replace("A tiny run for the tests.", "Changed.").replace(
        'figures=("gradient_diagram",)', 'figures=("gradient_diagram", "grad_norm")'))
    with monkeypatch.context() as patch:
        a_bug_in_the_gradient_diagram(patch)
        report = pipeline.build()
    assert report.failed == ["tiny-a/gradient_diagram: ZeroDivisionError: a bug in a figure"]
    assert report.rendered == ["tiny-a/grad_norm"] and report.reused == ["tiny-b/gradient_diagram"]
    page = (built / "site" / "tiny-a" / "index.html").read_text()
    assert "Changed." in page and 'src="grad_norm.gif"' in page and 'src="gradient_diagram.gif"' not in page
    assert "Gradient diagram: could not be drawn.</strong> ZeroDivisionError: a bug in a figure" in page
    assert "1 failed to draw" in (built / "site" / "index.html").read_text()  # and on its card
    assert (built / "site" / "tiny-b" / "gradient_diagram.gif").stat().st_size > 0
    # fixed: the next build draws it (a failure is never reused)
    assert pipeline.build().rendered == ["tiny-a/gradient_diagram"]


def test_a_strict_build_with_a_failing_figure_keeps_the_previous_site(built, monkeypatch):
    files = {p: p.read_bytes() for p in (built / "site").rglob("*") if p.is_file()}
    script = built / "experiments" / "tiny-a.py"
    script.write_text(script.read_text().replace("A tiny run for the tests.", "Changed."))
    a_bug_in_the_gradient_diagram(monkeypatch)
    result = CliRunner().invoke(main, ["build", "--strict"])
    assert result.exit_code == 1 and result.stderr.strip() == (
        "error: 1 figures or runs failed, the last site is kept: tiny-a/gradient_diagram: ZeroDivisionError: "
        "a bug in a figure"), result.stderr
    assert {p: p.read_bytes() for p in (built / "site").rglob("*") if p.is_file()} == files
    assert not (built / ".site.new").exists() and not (built / ".site.old").exists()
    result = CliRunner().invoke(main, ["build"])  # not strict: written, the failure listed, exit 1
    assert result.exit_code == 1 and "1 FAILED" in result.stderr and \
        "failed tiny-a/gradient_diagram: ZeroDivisionError: a bug in a figure" in result.stderr.splitlines()
    assert "Changed." in (built / "site" / "tiny-a" / "index.html").read_text()


def test_user_templates_override_a_page_a_block_or_the_base(built):
    user = built / "templates"
    user.mkdir()
    (user / "experiment.html").write_text(
        '{% extends "reportgen/experiment.html" %}{% block results %}<p id="mine">{{ exp.run_id }}</p>{% endblock %}')
    (user / "base.html").write_text(
        '{% extends "reportgen/base.html" %}{% block footer %}<footer>Our lab</footer>{% endblock %}')
    (user / "about.html").write_text('{% extends "base.html" %}{% block content %}<h1>Ours</h1>{% endblock %}')
    pipeline.build()
    out = built / "site"
    page = (out / "tiny-b" / "index.html").read_text()
    assert '<p id="mine">' in page and "Final metrics" not in page  # the block replaced...
    assert "gradient_diagram.gif" in page and "The script" in page  # ...and the rest is the shipped page
    for p in pages(out):
        assert "<footer>Our lab</footer>" in p.read_text(), p
    assert "<h1>Ours</h1>" in (out / "about.html").read_text()


@pytest.mark.slow
def test_an_installed_wheel_finds_its_templates_and_its_kernel(project, tmp_path):
    repo = Path(__file__).resolve().parent.parent
    wheel_dir, target = tmp_path / "wheel", tmp_path / "target"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(wheel_dir), str(repo)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                    *map(str, wheel_dir.glob("*.whl"))], check=True)
    code = ("import reportgen.site.templates as s; from pathlib import Path; d = s.template_dirs(None)[-1];"
            "assert 'target' in str(d), d; print(sorted(p.name for p in Path(d).iterdir()))")
    out = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(target), "PATH": ""},
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "base.html" in out.stdout and "experiment.html" in out.stdout
    kernel = target / "reportgen" / "compute" / "kernels" / "grad_stats.cpp"   # package data, not a string in Python
    assert kernel.read_text() == (repo / "reportgen" / "compute" / "kernels" / "grad_stats.cpp").read_text()


def test_a_figure_with_options_is_drawn_beside_the_plain_one(built):
    script = built / "experiments" / "tiny-b.py"
    script.write_text(script.read_text().replace(
        'figures=("gradient_diagram",)', 'figures=("gradient_diagram", "gradient_diagram(per_step=True, loss_panel=False)")'))
    report = pipeline.build((built / "experiments",), built / "runs", built / "site", templates=None)
    assert report.ran == [] and report.rendered == ["tiny-b/gradient_diagram-per_step-no_loss_panel"]
    assert "tiny-b/gradient_diagram" in report.reused
    out = built / "site" / "tiny-b"
    frames = iio.imread(out / "gradient_diagram-per_step-no_loss_panel.gif", index=None)
    assert len(frames) == 2 * 4   # a frame per logged step: 2 epochs of 4 batches, recorded every step
    assert len(iio.imread(out / "gradient_diagram.gif", index=None)) == 2
    page = (out / "index.html").read_text()
    assert '<figure id="gradient_diagram-per_step-no_loss_panel">' in page and '<figure id="gradient_diagram">' in page
    assert "Gradient diagram (per_step=True, loss_panel=False)" in page
    about = (built / "site" / "about.html").read_text()
    assert about.count('id="gradient_diagram"') == 1 and "tiny-b/index.html#gradient_diagram" in about
