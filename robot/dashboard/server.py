"""The dashboard's HTTP server: the page, its script and style, and ``/state.json``.

Standard library only (``http.server.ThreadingHTTPServer``). One thread follows the telemetry
file at twice the page's refresh rate and updates the aggregation; request threads only read
it. Nothing here writes a file.

On a 512 MB Pi beside the control loop it must stay small whatever a client does: at most
``MAX_CLIENTS`` requests are handled at once (a connection beyond that is closed at once), a
connection that sends nothing for ``IDLE_TIMEOUT_S`` is closed, and what ``/state.json`` holds
is bounded (``robot.dashboard.state``). A request whose ``Host`` names neither this machine's
addresses nor a configured name is refused (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
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
    "Cache-Control": "no-store",
}
#: Requests handled at once at most; a connection beyond them is closed unanswered.
MAX_CLIENTS = 16
#: A connection silent this long (seconds) is closed. The page's requests take milliseconds
#: (one per connection, HTTP/1.0), so a slot held this long is held by a client that stalls.
IDLE_TIMEOUT_S = 5.0


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
        now_s = time.monotonic()
        if records and self.follower.mtime_s is not None:
            # Written when the file was last modified, not when read: an old file is stale at
            # once (the wall clock only measures the file's age; the age is then monotonic).
            now_s -= max(time.time() - self.follower.mtime_s, 0.0)
        with self._lock:
            self.state.add(records, now_s)

    def view(self) -> dict[str, Any]:
        """The current view (a consistent copy)."""
        with self._lock:
            view = self.state.view(time.monotonic())
        follower = self.follower
        view["file"] = {
            "opened": follower.opened,
            "bad_lines": follower.bad_lines,
            "exists": follower.exists,
            "not_a_file": follower.not_a_file,
            "error": follower.error,
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


def host_allowed(host: str | None, address: str, names: tuple[str, ...]) -> bool:
    """Whether a request's ``Host`` header may reach the page: absent (HTTP/1.0), an IP
    literal, ``localhost``, the bound address or one of ``names`` (with or without a port)."""
    if host is None:
        return True
    host = host.strip().lower()
    if host.startswith("["):  # [v6]:port
        name = host[1 : host.find("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name in ("localhost", address.lower(), *(n.lower() for n in names)):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def make_server(
    address: str, port: int, dashboard: Dashboard, host_names: tuple[str, ...] = ()
) -> ThreadingHTTPServer:
    """An HTTP server bound to ``address``:``port`` serving ``dashboard`` to requests whose
    ``Host`` is an address or one of ``host_names``; OSError on a bind failure (the port in use,
    an address that is not this machine's)."""
    files = page_files()

    class Handler(BaseHTTPRequestHandler):
        server_version = "sim2pi-dashboard"
        error_content_type = "text/plain; charset=utf-8"
        error_message_format = "%(code)d %(message)s\n"
        # A silent connection (or a request line with no end of headers) is closed.
        timeout = IDLE_TIMEOUT_S

        def version_string(self) -> str:
            return self.server_version

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            if self.request_version == "HTTP/0.9":
                self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED)
                return
            if not host_allowed(self.headers.get("Host"), address, host_names):
                body = b"unknown Host: add it to [dashboard] host_names\n"
                self._send(HTTPStatus.MISDIRECTED_REQUEST, body, "text/plain", send_body)
                return
            path = self.path.split("?", 1)[0]
            if path == "/state.json":
                view = json.dumps(dashboard.view(), separators=(",", ":"), allow_nan=False)
                self._send(HTTPStatus.OK, view.encode(), "application/json", send_body)
            elif path in files:
                body, kind = files[path]
                self._send(HTTPStatus.OK, body, kind, send_body)
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", send_body)

        def _send(self, status: HTTPStatus, body: bytes, kind: str, send_body: bool) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def end_headers(self) -> None:
            # Every answer, errors from the base class (400, 501, 505) included.
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            super().end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            _log.debug("%s %s", self.address_string(), format % args)

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        daemon_threads = True
        # Never share the port with another process (SO_REUSEADDR only re-binds TIME_WAIT).
        allow_reuse_address = True
        request_queue_size = MAX_CLIENTS
        clients = threading.BoundedSemaphore(MAX_CLIENTS)

        def process_request(self, request: Any, client_address: Any) -> None:
            if not self.clients.acquire(blocking=False):  # busy: close it, keep memory bounded
                self.shutdown_request(request)
                return
            try:
                super().process_request(request, client_address)
            except BaseException:
                self.clients.release()
                raise

        def process_request_thread(self, request: Any, client_address: Any) -> None:
            try:
                super().process_request_thread(request, client_address)
            finally:
                self.clients.release()

    return Server((address, port), Handler)
