"""`reportgen serve`: serves the site, builds it again on every change, and open pages reload."""
import time
import urllib.request

from click.testing import CliRunner

from reportgen import pipeline
from reportgen.site import serve
from reportgen.cli import main


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def wait_for(predicate, seconds=60.0):
    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)


def test_serve_rebuilds_on_change_and_keeps_the_last_good_site(built):
    built_ok = []

    def rebuild():
        try:
            pipeline.build()
        except Exception as e:
            built_ok.append(e)
            return False
        built_ok.append(True)
        return True

    (built / "templates").mkdir()
    with serve.serving(serve.listen(built / "site", 0), rebuild, ["experiments", "templates"], interval=0.1) as url:
        page = get(url)
        assert "Watch networks train" in page and serve.VERSION_URL in page  # the reload script, added here...
        assert serve.VERSION_URL not in (built / "site" / "index.html").read_text()  # ...not to the file
        assert get(url + serve.VERSION_URL.lstrip("/")) == "0"
        (built / "templates" / "about.html").write_text(
            '{% extends "base.html" %}{% block content %}<h1>Edited</h1>{% endblock %}')
        wait_for(lambda: get(url + serve.VERSION_URL.lstrip("/")) == "1")
        assert "<h1>Edited</h1>" in get(url + "about.html") and built_ok == [True]
        (built / "experiments" / "tiny-b.py").write_text("EXPERIMENT = oops")
        wait_for(lambda: len(built_ok) == 2)
        assert "tiny-b.py" in str(built_ok[1])
        assert get(url + serve.VERSION_URL.lstrip("/")) == "1" and "Tiny B" in get(url + "tiny-b/")


def test_serve_without_a_site_says_so(project):
    result = CliRunner().invoke(main, ["serve", "--no-watch"])
    assert result.exit_code == 1 and result.output.startswith("error: site: no site here")
