"""`reportgen serve`: the site on 127.0.0.1, built again when an experiment or template changes, pages reloaded."""
from __future__ import annotations

import contextlib
import io
import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

VERSION_URL = "/.reportgen-version"
# added to every page served here (never to the files): reload once the version changes after a rebuild
RELOAD = """<script>((v) => setInterval(() => fetch("%s").then(r => r.text())
  .then(now => { if (now !== v) location.reload(); }).catch(() => {}), 1000))("%s");</script>"""


class Server(ThreadingHTTPServer):
    """Serves one folder; `version` counts the rebuilds, for the pages' reload script."""
    version = 0


class _Handler(SimpleHTTPRequestHandler):
    def send_head(self):
        path = urlsplit(self.path).path
        if path == VERSION_URL:
            return self._send(str(self.server.version).encode(), "text/plain")
        local = Path(self.translate_path(self.path))
        page = local / "index.html" if local.is_dir() and path.endswith("/") else local
        if page.suffix != ".html" or not page.is_file():
            return super().send_head()
        script = (RELOAD % (VERSION_URL, self.server.version)).encode()
        body = page.read_bytes()
        at = body.rfind(b"</body>")
        return self._send(body[:at] + script + body[at:] if at >= 0 else body + script, "text/html; charset=utf-8")

    def _send(self, body: bytes, kind: str):
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, *args):  # one line per request would bury the rebuild messages
        pass


def stamp(folders) -> frozenset:
    """Every file under `folders` with its modification time and size: any edit, addition or removal shows."""
    return frozenset((str(f), st.st_mtime_ns, st.st_size) for folder in map(Path, folders) if folder.is_dir()
                     for f in folder.rglob("*") if "__pycache__" not in f.parts and f.is_file()
                     for st in [f.stat()])


def watch(server: Server, rebuild, folders, interval: float, stop: threading.Event) -> None:
    """Poll `folders` every `interval` seconds; on a change call `rebuild()` and bump the server's version."""
    last = stamp(folders)
    while not stop.wait(interval):
        now = stamp(folders)
        if now != last:
            last = now
            if rebuild():
                server.version += 1


class ServeError(Exception):
    """A port the site cannot be served on: one line naming it and why."""


def listen(folder: Path, port: int = 8000) -> Server:
    """A server of `folder` bound to 127.0.0.1:`port` (0: any free one), not serving yet; or ServeError when
    the port is out of range or another program has it."""
    if not 0 <= port <= 65535:
        raise ServeError(f"--port {port}: allowed: 0 (any free port) to 65535")
    try:
        return Server(("127.0.0.1", port), partial(_Handler, directory=os.fspath(folder)))
    except OSError as e:
        raise ServeError(f"cannot serve on 127.0.0.1:{port}: {e.strerror}") from None


@contextlib.contextmanager
def serving(server: Server, rebuild=None, folders=(), interval: float = 1.0):
    """Serve in the background what `server` (from `listen`) serves; yield its url. With `rebuild` (a callable
    returning whether it succeeded), watch `folders` and rebuild on every change."""
    stop = threading.Event()
    threads = [threading.Thread(target=server.serve_forever, daemon=True)]
    if rebuild:
        threads.append(threading.Thread(target=watch, args=(server, rebuild, folders, interval, stop), daemon=True))
    for t in threads:
        t.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        for t in threads:
            t.join()
