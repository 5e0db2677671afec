"""The dashboard's HTTP side against what a client may do (methods, query strings, Host headers,
idle and too many connections) and its follower against what a telemetry file may hold (NaN,
deep nesting, long lines, no permission, an old file): a real process, real sockets."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot.dashboard.server import IDLE_TIMEOUT_S, MAX_CLIENTS, SECURITY_HEADERS
from tests.robot.dashboard.dashboard_process import (
    ROOT,
    DashboardRun,
    sim_config,
    without_file_permissions,
)

#: The unit's limit on open files (scripts/sim2pi-dashboard.service).
UNIT_NOFILE = int(
    re.findall(
        r"^LimitNOFILE=(\d+)$",
        (ROOT / "scripts" / "sim2pi-dashboard.service").read_text(),
        re.MULTILINE,
    )[-1]
)


def tick(n: int, **fields: object) -> str:
    """One tick record's line, as the loop writes it (``fields`` override)."""
    base = {"t_s": n * 0.05, "tick": n, "obs": [1.0, 0.5, 0.25], "action": 0, "q": [0.1] * 5}
    return json.dumps({**base, **fields}) + "\n"


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[DashboardRun]:
    config = sim_config(tmp_path)
    config.write_text(config.read_text() + '\n[dashboard]\nhost_names = "robot.local"\n')
    run = DashboardRun(config, "--port", "0")
    yield run
    assert run.stop() == 0, run.log()


def ask(url: str, method: str = "GET", path: str = "/", **headers: str) -> tuple:
    """(status, headers, body) of one request."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_methods_errors_and_query_strings(dashboard: DashboardRun) -> None:
    status, headers, body = ask(dashboard.url, "GET", "/state.json?t=123")
    assert status == 200 and json.loads(body)["records"] == 0
    assert headers["Server"] == "sim2pi-dashboard"  # no trailing space, no Python version
    assert ask(dashboard.url, "GET", "/?reload=1")[2].startswith(b"<!doctype html>")
    status, headers, body = ask(dashboard.url, "HEAD", "/state.json")
    assert (status, body) == (200, b"") and int(headers["Content-Length"]) > 0
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        status, headers, _ = ask(dashboard.url, method, "/state.json")
        assert status == 501, method
        for name, value in SECURITY_HEADERS.items():  # errors carry them too
            assert headers[name] == value, (method, name)
    with socket.create_connection(_where(dashboard)) as raw:
        raw.sendall(b"GET / x HTTP/1.1\r\n\r\n")
        answer = b"".join(iter(lambda: raw.recv(4096), b"")).decode()
    assert answer.startswith("HTTP/1.0 400") and "X-Content-Type-Options: nosniff" in answer
    assert answer.endswith("\r\n\r\n400 Bad request syntax ('GET / x HTTP/1.1')\n")


def _where(dashboard: DashboardRun) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(dashboard.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def test_only_known_host_names_are_served(dashboard: DashboardRun) -> None:
    port = _where(dashboard)[1]
    for host in (f"127.0.0.1:{port}", "localhost", f"robot.local:{port}", f"[::1]:{port}"):
        assert ask(dashboard.url, "GET", "/state.json", Host=host)[0] == 200, host
    for host in ("attacker.example", f"attacker.example:{port}", "robot.local.attacker.example"):
        status, headers, body = ask(dashboard.url, "GET", "/state.json", Host=host)
        assert (status, b"records" in body) == (421, False), host
        assert headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]


def cpu_s(pid: int) -> float:
    """User and system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_idle_and_surplus_connections_cost_nothing_and_end(tmp_path: Path) -> None:
    # Under the unit's LimitNOFILE (64), 60 clients that send a request line, then nothing (one
    # an HTTP/0.9 line): beyond MAX_CLIENTS they are closed at once, the rest when idle too long,
    # and the page is served again.
    run = DashboardRun(
        sim_config(tmp_path), "--port", "0", prefix=["prlimit", f"--nofile={UNIT_NOFILE}", "--"]
    )
    idle: list[socket.socket] = []
    try:
        started = time.monotonic()
        for n in range(60):
            client = socket.create_connection(_where(run), timeout=5)
            client.sendall(b"GET /state.json\r\n" if n == 0 else b"GET /state.json HTTP/1.1\r\n")
            idle.append(client)
        time.sleep(1.0)
        before = cpu_s(run.process.pid)
        time.sleep(2.0)
        assert cpu_s(run.process.pid) - before < 0.5, "it spins"
        assert sum(1 for client in idle if _closed_now(client)) >= 60 - MAX_CLIENTS
        while not all(_closed_now(client) for client in idle):
            assert time.monotonic() - started < IDLE_TIMEOUT_S + 5, "idle clients stay"
            time.sleep(0.1)
        assert run.state()["records"] == 0
        assert cpu_s(run.process.pid) - before < 1.0
    finally:
        for client in idle:
            client.close()
        assert run.stop() == 0, run.log()


def _closed_now(client: socket.socket) -> bool:
    """Whether the server has closed ``client`` (its end of file, or a reset, is there)."""
    client.setblocking(False)
    try:
        while data := client.recv(65536):
            del data
        return True
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        client.setblocking(True)


def test_nan_nesting_and_long_lines_are_skipped_or_nulled(tmp_path: Path) -> None:
    config = sim_config(tmp_path)
    ticks = tmp_path / "telemetry" / "ticks.jsonl"
    ticks.parent.mkdir()
    ticks.write_text("[" * 5000 + "]" * 5000 + "\n")  # it must start on it, not exit
    run = DashboardRun(config, "--port", "0")
    try:
        with ticks.open("a") as file:
            file.write(tick(1).replace("[1.0,", "[NaN,").replace('"q": [0.1,', '"q": [Infinity,'))
            file.write(tick(2, q=[1.0] * 40_000))  # 200 kB: a complete line, too long
            file.write("[" * 5000 + "]" * 5000 + "\n")
            file.write(tick(3, q=[1.0] * 2_000, obs="far"))  # not too long: served bounded
        for _ in range(100):
            if (state := run.state())["tick"] == 3:
                break
            time.sleep(0.05)
        assert (state["tick"], state["records"], state["file"]["bad_lines"]) == (3, 2, 3)
        assert len(state["q"]) == 64 and state["obs"] is None
        assert state["bad_fields"] == ["obs", "q"]
        with ticks.open("a") as file:
            file.write(tick(4).replace("[1.0,", "[NaN,"))
        time.sleep(0.5)
        assert run.state()["obs"] == [None, 0.5, 0.25]  # strict JSON: NaN is null
    finally:
        assert run.stop() == 0, run.log()
    assert "Traceback" not in run.log()


@pytest.mark.parametrize("unreadable", ["directory", "file"])
def test_an_unreadable_telemetry_path_is_said_once(tmp_path: Path, unreadable: str) -> None:
    config = sim_config(tmp_path)
    ticks = tmp_path / "telemetry" / "ticks.jsonl"
    ticks.parent.mkdir()
    ticks.write_text(tick(0))
    closed = ticks.parent if unreadable == "directory" else ticks
    closed.chmod(0)
    run = DashboardRun(config, "--port", "0", prefix=without_file_permissions())
    try:
        for _ in range(5):  # many polls, one warning
            state = run.state()
            time.sleep(0.1)
        assert state["file"]["error"] == f"cannot read {ticks}: Permission denied"
        assert state["records"] == 0
        closed.chmod(0o755)
        for _ in range(100):
            if (state := run.state())["records"] == 1:
                break
            time.sleep(0.05)
        assert (state["records"], state["file"]["error"]) == (1, None)
    finally:
        closed.chmod(0o755)
        assert run.stop() == 0, run.log()
    warnings = [line for line in run.lines if "Permission denied" in line]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING"), run.log()


def test_an_old_file_is_stale_at_once(tmp_path: Path) -> None:
    config = sim_config(tmp_path)
    ticks = tmp_path / "telemetry" / "ticks.jsonl"
    ticks.parent.mkdir()
    ticks.write_text("".join(tick(n) for n in range(5)))
    written = time.time() - 7 * 60
    os.utime(ticks, (written, written))
    run = DashboardRun(config, "--port", "0")
    try:
        state = run.state()
        assert state["records"] == 5 and 7 * 60 <= state["since_last_record_s"] < 7 * 60 + 30
        with ticks.open("a") as file:  # written now: live again
            file.write(tick(5))
        for _ in range(100):
            if (state := run.state())["records"] == 6:
                break
            time.sleep(0.05)
        assert state["since_last_record_s"] < 2
    finally:
        assert run.stop() == 0, run.log()


def test_every_interface_of_both_families_with_the_address_of_all(tmp_path: Path) -> None:
    # address "::" listens on IPv6 and IPv4 alike (as docs/dashboard.md says), and says so.
    run = DashboardRun(sim_config(tmp_path), "--port", "0", "--address", "::")
    try:
        assert "every interface (IPv4 and IPv6)" in run.wait_for_log("every interface")
        port = urllib.parse.urlsplit(run.url).port
        for url in (f"http://127.0.0.1:{port}/", f"http://[::1]:{port}/"):
            assert ask(url, "GET", "/state.json")[0] == 200, url
    finally:
        assert run.stop() == 0, run.log()
