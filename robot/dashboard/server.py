"""The dashboard's HTTP server: the page, its script and style, and ``/state.json``.

Standard library only (``http.server.ThreadingHTTPServer``). One thread follows the telemetry
file at twice the page's refresh rate and updates the aggregation; request threads only read
it. Nothing here writes a file.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from robot.dashboard.follow import TelemetryFollower
from robot.dashboard.state import DashboardState, Layout

_log = logging.getLogger(__name__)

#: The page's files (package data of ``robot.dashboard``) and their content types.
PAGE_FILES = {
    "/": ("page.html", "text/html; charset=utf-8"),
    "/page.js": ("page.js", "text/javascript; charset=utf-8"),
    "/page.css": ("page.css", "text/css; charset=utf-8"),
}
#: The page loads nothing from elsewhere and runs no inline script.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def page_files() -> dict[str, tuple[bytes, str]]:
    """The page's files by URL path: (content, content type)."""
    package = resources.files("robot.dashboard")
    return {
        url: (package.joinpath(name).read_bytes(), kind) for url, (name, kind) in PAGE_FILES.items()
    }


class Dashboard:
    """Follows ``telemetry_path`` on a thread of its own and serves the view of it."""

    def __init__(self, telemetry_path: Path, layout: Layout) -> None:
        """Follow ``telemetry_path`` (it need not exist yet) for a page drawn from ``layout``."""
        self.follower = TelemetryFollower(telemetry_path)
        self.state = DashboardState(layout)
        self.period_s = 1.0 / (2.0 * layout.refresh_hz)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="sim2pi-follow", daemon=True)

    def start(self) -> None:
        """Start following."""
        self.poll()
        self._thread.start()

    def poll(self) -> None:
        """Read what was appended and fold it into the state."""
        records = self.follower.poll()
        with self._lock:
            self.state.add(records, time.monotonic())

    def view(self) -> dict[str, Any]:
        """The current view (a consistent copy)."""
        with self._lock:
            view = self.state.view(time.monotonic())
        view["file"] = {
            "opened": self.follower.opened,
            "bad_lines": self.follower.bad_lines,
            "exists": self.follower.path.exists(),
        }
        return view

    def _follow(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                self.poll()
            except Exception:  # a bug here must not silence the page: log it, go on
                _log.exception("following %s failed", self.follower.path)

    def close(self) -> None:
        """Stop following and close the file; safe to call twice."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.follower.close()


def make_server(address: str, port: int, dashboard: Dashboard) -> ThreadingHTTPServer:
    """An HTTP server bound to ``address``:``port`` serving ``dashboard``; OSError on a bind
    failure (the port in use, an address that is not this machine's)."""
    files = page_files()

    class Handler(BaseHTTPRequestHandler):
        server_version = "sim2pi-dashboard"
        sys_version = ""

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/state.json":
                body = json.dumps(dashboard.view(), separators=(",", ":")).encode()
                self._send(HTTPStatus.OK, body, "application/json", send_body)
            elif path in files:
                body, kind = files[path]
                self._send(HTTPStatus.OK, body, kind, send_body)
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", send_body)

        def _send(self, status: HTTPStatus, body: bytes, kind: str, send_body: bool) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            _log.debug("%s %s", self.address_string(), format % args)

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        daemon_threads = True
        # Never share the port with another process (SO_REUSEADDR only re-binds TIME_WAIT).
        allow_reuse_address = True

    return Server((address, port), Handler)
