"""Check any built site folder the way a reader meets it: served under a sub-path, in a real Chromium."""
import contextlib
import getpass
import json
import re
import shutil
import threading
import urllib.request
from dataclasses import dataclass, field
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

import pytest

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking")
GENERIC_USERS = {"root", "runner", "user", "admin", "ubuntu", "debian", "nobody", "docker", "vscode"}


@dataclass
class Served:
    """A folder served over http: its base url and every (path, status) asked of it."""
    url: str
    requests: list = field(default_factory=list)

    @property
    def failed(self):
        return [(path, status) for path, status in self.requests if status >= 400]


class _PagesHandler(SimpleHTTPRequestHandler):
    """Static files under one prefix only, like GitHub Pages serves a project site."""

    def __init__(self, *args, prefix, served, **kwargs):
        self.prefix, self.served = prefix, served
        super().__init__(*args, **kwargs)

    def send_head(self):
        if not (urlsplit(self.path).path + "/").startswith(self.prefix):
            return self.send_error(404)
        return super().send_head()

    def translate_path(self, path):
        return super().translate_path("/" + urlsplit(path).path[len(self.prefix):])

    def list_directory(self, path):
        # Pages never lists a folder: a directory without index.html is a 404 there
        return self.send_error(404)

    def log_request(self, code="-", size="-"):
        self.served.requests.append((self.path, int(code)))

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(folder, prefix="/reportgen-demo/"):
    """Serve `folder` on 127.0.0.1 (a free port) under `prefix`; yield a `Served`."""
    prefix = f"/{prefix.strip('/')}/".replace("//", "/")
    served = Served("")
    handler = partial(_PagesHandler, prefix=prefix, served=served, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    served.url = f"http://127.0.0.1:{server.server_port}{prefix}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def reached(folder, how):
    """A site folder as readers reach it: "http", served under /reportgen-demo/ like a GitHub project page, or
    "file", opened from disk; yield a `Served` (from disk it records no requests)."""
    if how == "file":
        yield Served(Path(folder).as_uri() + "/")
        return
    with serve(folder) as served:
        yield served


def opener(driver, served):
    """open(path): the driver, showing that page of the site `served`."""
    def open_page(path):
        driver.get(served.url + path)
        return driver
    return open_page


def chromium():
    """A headless Chromium WebDriver logging console and network, or skip the test saying why."""
    webdriver = pytest.importorskip("selenium.webdriver")
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip(f"needs Chromium and chromedriver on PATH (found browser={browser}, driver={driver})")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # an explicit driver path keeps selenium-manager from trying to download one
    return webdriver.Chrome(service=webdriver.ChromeService(driver), options=options)


_SETTLE_IMAGES = """
const done = arguments[arguments.length - 1];
const images = [...document.images];
images.forEach(img => { img.loading = "eager"; });  // lazy images below the fold count too
const broken = () => images.filter(img => !(img.complete && img.naturalWidth > 0));
// A page script may swap a source (a poster for its animation) while we wait: settle in rounds.
const settle = round => Promise.all(images.map(img => img.decode().catch(() => null))).then(() =>
    broken().length && round < 10 ? new Promise(r => setTimeout(r, 200)).then(() => settle(round + 1))
                                   : done(broken().map(img => img.getAttribute("src") || img.outerHTML)));
settle(0);
"""
_MEDIA_URLS = """
return [...document.querySelectorAll("video[src], video[poster], video source[src]")]
    .flatMap(el => [el.getAttribute("src") && el.src, el.getAttribute("poster") && el.poster])
    .filter(Boolean);
"""


def check_page(driver, url):
    """Load `url`; return what is wrong: undecoded images, unreachable videos, console errors, failed requests."""
    for log in ("browser", "performance"):
        driver.get_log(log)  # reading empties it: drop what earlier pages left
    driver.set_script_timeout(30)
    driver.get(url)
    problems = [f"{url}: image not decoded: {src}" for src in driver.execute_async_script(_SETTLE_IMAGES)]
    problems += [f"{url}: video not reachable: {media}"
                 for media in driver.execute_script(_MEDIA_URLS) if not _reachable(media, url)]
    problems += [f"{url}: console: {entry['message']}"
                 for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    return problems + [f"{url}: request failed: {failure}" for failure in _failed_requests(driver)]


def _reachable(media, page):
    """Whether a same-site media file exists; other sites are not fetched."""
    where = urlsplit(media)
    if where.scheme == "file":
        return Path(url2pathname(where.path)).is_file()
    if where.netloc != urlsplit(page).netloc:
        return True
    try:
        with urllib.request.urlopen(urllib.request.Request(media, method="HEAD"), timeout=5):
            return True
    except OSError:
        return False


def _failed_requests(driver):
    """Requests that failed or answered >= 400, read from Chromium's performance (DevTools) log."""
    urls, failed = {}, []
    for entry in driver.get_log("performance"):
        event = json.loads(entry["message"])["message"]
        params = event.get("params", {})
        if event["method"] == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif event["method"] == "Network.responseReceived" and params["response"]["status"] >= 400:
            failed.append(f"{params['response']['status']} {params['response']['url']}")
        elif event["method"] == "Network.loadingFailed" and not params.get("canceled"):
            # a cancelled request (a video the browser stopped buffering) is not broken
            failed.append(f"{params['errorText']} {urls.get(params['requestId'], '?')}")
    return failed


class _Links(HTMLParser):
    """The urls one page points at, and the fragment targets (id, a name) it offers."""
    ATTRS = {"href", "src", "poster"}

    def __init__(self):
        super().__init__()
        self.urls, self.anchors = [], {"", "top"}  # "#" and "#top" always scroll to the top

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.anchors.add(value)
            elif name in self.ATTRS and value is not None:
                self.urls.append(value.strip())
            elif name == "srcset" and value:
                self.urls += [part.split()[0] for part in value.split(",") if part.strip()]


def _parse(page):
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    return parser


def _external(url):
    """Another site (http, mailto, data, ...): nothing on disk to check."""
    return url.startswith("//") or urlsplit(url).scheme not in ("", "file")


def external_links(folder):
    """Every http(s) link to another site in the folder's pages, sorted; none is fetched."""
    return sorted({url for page in Path(folder).rglob("*.html") for url in _parse(page).urls
                   if url.startswith("//") or urlsplit(url).scheme in ("http", "https")})


def check_links(folder):
    """Broken internal links and assets, absolute local links and missing #fragments in every page."""
    folder = Path(folder).resolve()
    pages = {page: _parse(page) for page in sorted(folder.rglob("*.html"))}
    problems = []
    for page, parsed in pages.items():
        name = page.relative_to(folder).as_posix()
        for url in parsed.urls:
            if url.startswith(("/", "file:")) and not url.startswith("//"):
                problems.append(f"{name}: absolute link {url!r} breaks under a sub-path")
            elif not _external(url) and (problem := _resolve(folder, page, url, pages)):
                problems.append(f"{name}: {url!r} {problem}")
    return problems


def _resolve(folder, page, url, pages):
    """What is wrong with one relative url of `page`, or None."""
    split = urlsplit(urljoin(page.as_uri(), url))
    target = Path(url2pathname(split.path)).resolve()  # url2pathname unquotes %20
    if not target.is_relative_to(folder):
        return "points outside the site"
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return "is missing"
    if split.fragment and target in pages and unquote(split.fragment) not in pages[target].anchors:
        return f"has no #{split.fragment} target"
    return None


def check_no_local_paths(folder, extra=()):
    """Files under `folder` that mention the build machine: home, repo or cwd path, the user's name."""
    paths = {str(p) for p in (Path.home(), Path(__file__).resolve().parents[1], Path.cwd(), *extra)}
    needles = {p: re.compile(re.escape(p.encode())) for p in paths if len(p) > 1}
    user = getpass.getuser()
    if user not in GENERIC_USERS:  # a name alone, as a word: "/home/ml" leaks, "html" does not
        needles[user] = re.compile(rb"\b" + re.escape(user.encode()) + rb"\b")
    problems = []
    for path in sorted(path for path in Path(folder).rglob("*") if path.is_file()):
        data = path.read_bytes()
        problems += [f"{path.relative_to(folder).as_posix()}: contains {text!r}"
                     for text, needle in needles.items() if needle.search(data)]
    return problems
