"""End to end: scripts -> runs -> GIFs -> site, incremental and atomic, checked in the files it writes."""
import re
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest

from reportgen import site
from reportgen.animate import Style


def referenced(html: str) -> list[str]:
    return re.findall(r'(?:src|href|data-play)="([^"#:]+)"', html)


def test_build_writes_every_page_and_every_gif_decodes(project):
    report = site.build(style=Style(fps=10))
    assert sorted(report.ran) == ["tiny-a", "tiny-b"]
    out = project / "site"
    assert (out / ".nojekyll").exists() and (out / "index.html").exists()
    epochs = {"tiny-a": 3, "tiny-b": 2}
    for page in [out / "index.html", out / "about.html"] + [out / n / "index.html" for n in epochs]:
        html = page.read_text()
        for link in referenced(html):
            target = (page.parent / link).resolve()
            assert target.exists(), f"{page.name} links to missing {link}"
            if target.suffix == ".gif":
                frames = iio.imread(target, index=None)
                assert len(frames) == epochs[target.parent.name], target
                assert frames.shape[1:3] == (450, 800)


def test_titles_from_scripts_are_escaped_and_no_local_paths_leak(project):
    site.build()
    out = project / "site"
    index = (out / "index.html").read_text()
    assert "<script>alert(1)</script>" not in index and "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    for f in out.rglob("*"):
        if f.suffix in (".html", ".css", ".js", ".json"):
            assert str(project) not in f.read_text(), f
            assert str(Path.home()) + "/" not in f.read_text(), f


def test_a_second_build_reuses_every_run_and_figure(project):
    site.build()
    gif = project / "site" / "tiny-b" / "gradient_diagram.gif"
    before = gif.stat().st_mtime_ns
    report = site.build()
    assert report.ran == [] and report.rendered == [] and len(report.reused) == 2
    assert gif.stat().st_mtime_ns == before
    script = project / "experiments" / "tiny-b.py"
    script.write_text(script.read_text().replace("'Tiny B'", "'Tiny B, renamed'"))
    report = site.build()
    assert report.ran == [] and report.rendered == ["tiny-b/gradient_diagram"]
    assert "Tiny B, renamed" in (project / "site" / "index.html").read_text()


def test_a_failing_build_leaves_the_previous_site(project, monkeypatch):
    site.build()
    before = (project / "site" / "index.html").read_text()
    (project / "experiments" / "tiny-b.py").write_text("EXPERIMENT = oops")
    with pytest.raises(Exception, match="tiny-b.py"):
        site.build()
    assert (project / "site" / "index.html").read_text() == before
    assert not (project / ".site.new").exists()


@pytest.mark.slow
def test_an_installed_wheel_finds_its_templates(project, tmp_path):
    repo = Path(__file__).resolve().parent.parent
    wheel_dir, target = tmp_path / "wheel", tmp_path / "target"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(wheel_dir), str(repo)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                    *map(str, wheel_dir.glob("*.whl"))], check=True)
    code = ("import reportgen.site as s; from pathlib import Path; d = s.template_dirs(None)[-1];"
            "assert 'target' in str(d), d; print(sorted(p.name for p in Path(d).iterdir()))")
    out = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(target), "PATH": ""},
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "base.html" in out.stdout and "experiment.html" in out.stdout
