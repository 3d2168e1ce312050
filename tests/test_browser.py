"""The browser harness on a tiny hand-written site: it passes a good one and catches each kind of break."""
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from tests import browser
from tests.browser import check_links, check_no_local_paths, check_page, chromium, external_links, serve

# a declared icon: without one Chromium asks the server root for /favicon.ico, a 404 on a project site
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>t</title>
<link rel="icon" href="data:,"></head><body>{}</body></html>"""
INDEX = """<h1 id="title">Demo</h1>
<a href="sub/index.html#part">part</a> <a href="#title">up</a> <a href="https://example.org/paper">paper</a>
<img src="img/plot.png" alt="plot"> <img src="img/anim.gif" srcset="img/anim.gif 1x" loading="lazy" alt="anim">
<video controls preload="none" poster="img/plot.png"><source src="img/anim.mp4" type="video/mp4"></video>"""
SUB = """<h2 id="part">Part</h2>
<a href="../index.html">back</a> <a href="../">home</a> <img src="../img/anim.gif" alt="anim">"""


@pytest.fixture
def site(tmp_path):
    """index.html and sub/index.html showing a PNG, a GIF and a video; img/ has no index.html."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "img").mkdir()
    (tmp_path / "index.html").write_text(PAGE.format(INDEX))
    (tmp_path / "sub" / "index.html").write_text(PAGE.format(SUB))
    Image.new("RGB", (4, 3), "red").save(tmp_path / "img" / "plot.png")
    frames = [Image.new("P", (4, 3), color) for color in (0, 1)]
    frames[0].save(tmp_path / "img" / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    (tmp_path / "img" / "anim.mp4").write_bytes(b"\0" * 16)  # preload="none": only reachability counts
    return tmp_path


@pytest.fixture(scope="module")
def driver():
    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture(params=["http", "file"])
def served(request, site):
    """The site served like GitHub Pages under a sub-path, or opened from disk (no requests to record)."""
    if request.param == "file":
        yield browser.Served(site.as_uri() + "/")
        return
    with serve(site) as served:
        yield served


def test_good_site_passes(driver, site, served):
    assert check_page(driver, served.url + "index.html") == []
    assert check_page(driver, served.url + "sub/index.html") == []
    assert served.failed == []
    assert check_links(site) == []
    assert check_no_local_paths(site) == []
    assert external_links(site) == ["https://example.org/paper"]


@pytest.mark.parametrize("html, expected", [
    ('<img src="missing.png" alt="x">', "image not decoded: missing.png"),
    ('<img src="/img/plot.png" alt="x">', "image not decoded: /img/plot.png"),  # absolute: not under the prefix
    ('<video preload="none"><source src="missing.mp4"></video>', "video not reachable"),
    ('<script>console.error("boom")</script>', "console"),
    ("<script>no_such_function()</script>", "no_such_function is not defined"),
    ('<link rel="stylesheet" href="missing.css">', "request failed"),
])
def test_check_page_catches(driver, site, served, html, expected):
    (site / "bad.html").write_text(PAGE.format(html))
    problems = check_page(driver, served.url + "bad.html")
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize("html, expected", [
    ('<a href="nope.html">x</a>', "'nope.html' is missing"),
    ('<img src="img/plot.png" srcset="img/plot.png 1x, img/big.png 2x" alt="x">', "'img/big.png' is missing"),
    ('<a href="img/">x</a>', "'img/' is missing"),
    ('<a href="../../elsewhere.html">x</a>', "points outside the site"),
    ('<a href="/sub/index.html">x</a>', "absolute link '/sub/index.html'"),
    ('<a href="file:///etc/hosts">x</a>', "absolute link 'file:///etc/hosts'"),
    ('<a href="sub/index.html#nowhere">x</a>', "has no #nowhere target"),
    ('<a href="#nowhere">x</a>', "has no #nowhere target"),
])
def test_check_links_catches(site, html, expected):
    (site / "bad.html").write_text(PAGE.format(html))
    problems = check_links(site)
    assert len(problems) == 1 and problems[0].startswith("bad.html: ") and expected in problems[0], problems


def test_check_no_local_paths_catches(site, monkeypatch):
    (site / "home.html").write_text(f"<p>{Path.home()}/runs/x</p>")
    (site / "img" / "meta.json").write_text('{"source": "/opt/build/runs"}')
    (site / "credits.txt").write_text("made by alice, not by malice")
    monkeypatch.setattr(browser.getpass, "getuser", lambda: "alice")
    assert check_no_local_paths(site, extra=["/opt/build"]) == [
        "credits.txt: contains 'alice'",
        f"home.html: contains {str(Path.home())!r}",
        "img/meta.json: contains '/opt/build'",
    ]


def _status(url):
    try:
        with urllib.request.urlopen(url) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_serve_is_a_project_site(site):
    with serve(site, prefix="reportgen-demo") as served:
        root = served.url.removesuffix("reportgen-demo/")
        assert served.url.endswith("/reportgen-demo/")
        assert _status(served.url) == 200
        assert _status(served.url + "sub/") == 200
        assert _status(served.url + "img/") == 404  # no index.html, and Pages lists no folders
        assert _status(root + "index.html") == 404  # outside the project's sub-path
        assert _status(root + "reportgen-demo") == 200  # after a redirect to the slash
    assert ("/reportgen-demo", 301) in served.requests
    assert served.failed == [("/reportgen-demo/img/", 404), ("/index.html", 404)]


def test_chromium_skips_with_a_reason_when_missing(monkeypatch):
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="needs Chromium and chromedriver"):
        chromium()
