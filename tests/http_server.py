r"""A small HTTP file server on 127.0.0.1 for download tests, with faults on demand.

    with serve_directory(root) as server:
        fetch(f"{server.url}/some/file.zip", dest)

It serves GET and HEAD for files under `root` (query strings ignored), honours single
`Range: bytes=a-` / `bytes=a-b` requests with 206 answers, and can misbehave on purpose:

- `server.faults.unavailable_first = k`: the first k GETs answer 503;
- `server.faults.truncate_first = k`, `server.faults.truncate_at = n`: the first k GETs announce
  the full Content-Length but send only n bytes of the body, then close the connection;
- `server.faults.ignore_range = True`: answer every GET with 200 and the whole file;
- `server.faults.web_page = "<content type>"`: answer every file GET with an HTML page under
  that Content-Type (text/html, or application/octet-stream as a careless server would);
- `server.faults.seafile = True`: behave like a Seafile share: ``/files/?p=/<path>&dl=1``
  answers the preview page (HTML), ``/files/?p=/<path>`` a page naming the file's address as
  ``rawPath: '\/raw\/<path>'``, and ``/raw/<path>?raw=1`` the file.

A GET of a folder (a path ending in /) answers an index page linking its files, as a mirror's
web server would.

Every request is logged in `server.requests` as `(path, range header or None, status)`.
"""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Faults:
    unavailable_first: int = 0
    truncate_first: int = 0
    truncate_at: int = 0
    ignore_range: bool = False
    web_page: str | None = None
    seafile: bool = False


PREVIEW_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Seafile</title></head><body>preview</body></html>"
)


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path):
        super().__init__(("127.0.0.1", 0), _Handler)  # port 0: the OS picks a free port
        self.root = Path(root).resolve()
        self.faults = Faults()
        self.requests: list[tuple[str, str | None, int]] = []
        self.lock = threading.Lock()
        self.gets_seen = 0

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: LocalServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep pytest output quiet
        pass

    def do_HEAD(self):
        self._serve(send_body=False)

    def do_GET(self):
        self._serve(send_body=True)

    def _serve(self, send_body: bool) -> None:
        server, faults = self.server, self.server.faults
        relative = unquote(urlsplit(self.path).path).lstrip("/")
        range_header = self.headers.get("Range")
        with server.lock:
            if send_body:
                server.gets_seen += 1
            nth_get = server.gets_seen
        query = parse_qs(urlsplit(self.path).query)
        if faults.seafile and relative.startswith("files"):
            relative = query.get("p", [""])[0].lstrip("/")
            if "dl" in query:
                return self._answer_page(relative, PREVIEW_PAGE)
            raw_path = "\\/raw\\/" + relative.replace("/", "\\/")
            return self._answer_page(relative, f"<script>rawPath: '{raw_path}',</script>".encode())
        if faults.seafile and relative.startswith("raw/"):
            relative = relative.removeprefix("raw/")
        path = (server.root / relative).resolve()
        if path.is_dir() and self.path.split("?")[0].endswith("/"):
            links = "".join(f'<a href="{p.name}">{p.name}</a>\n' for p in sorted(path.iterdir()))
            return self._answer_page(relative, f"<html><body>{links}</body></html>".encode())
        if not path.is_relative_to(server.root) or not path.is_file():
            return self._answer_status(relative, range_header, 404)
        if faults.web_page:
            return self._answer_page(relative, PREVIEW_PAGE, faults.web_page)
        if send_body and nth_get <= faults.unavailable_first:
            return self._answer_status(relative, range_header, 503)

        data = path.read_bytes()
        start, end = 0, len(data) - 1
        status = 200
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", range_header or "")
        if match and not faults.ignore_range:
            start = int(match.group(1))
            end = min(int(match.group(2)), end) if match.group(2) else end
            if start >= len(data):
                self._log(relative, range_header, 416)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        body = data[start : end + 1]
        self._log(relative, range_header, status)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        if not send_body:
            return
        if nth_get <= faults.truncate_first:
            self.wfile.write(body[: faults.truncate_at])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def _answer_page(self, relative: str, page: bytes, content_type: str = "text/html") -> None:
        self._log(relative, None, 200)
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def _answer_status(self, relative: str, range_header: str | None, status: int) -> None:
        self._log(relative, range_header, status)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _log(self, relative: str, range_header: str | None, status: int) -> None:
        with self.server.lock:
            self.server.requests.append((relative, range_header, status))


@contextlib.contextmanager
def serve_directory(root: str | Path):
    """Serve `root` on a free port of 127.0.0.1 in a background thread; stop on exit."""
    server = LocalServer(Path(root))
    thread = threading.Thread(target=server.serve_forever, name="test-http-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
