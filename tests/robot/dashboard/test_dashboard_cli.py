"""``python -m robot dashboard`` as a user runs it: the ``[dashboard]`` keys, bind errors in one
line with exit 2, the page's files, ``/state.json`` following a real ``robot run``, SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from robot.config import DashboardConfig, load_config
from robot.dashboard.layout import layout_for
from robot.errors import ConfigError
from tests.robot.dashboard.dashboard_process import ROOT, DashboardRun, sim_config


def robot(*args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "robot", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout_s,
    )


def test_defaults_and_the_example_configs_load(tmp_path: Path) -> None:
    config = load_config(sim_config(tmp_path))
    assert config.dashboard == DashboardConfig("127.0.0.1", 8420, 10.0)
    for example in sorted((ROOT / "robot" / "examples").glob("*.toml")):
        text = example.read_text()
        if "[dashboard]" in text:
            assert load_config(example).dashboard.refresh_hz >= 5.0


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            'address = "robot.local"',
            "[dashboard.address] expected an IP address, found 'robot.local'",
        ),
        ("refresh_hz = 2", "[dashboard.refresh_hz] expected 5"),
        ("port = 80", "[dashboard.port] expected 1024"),
        ('address = "224.0.0.1"', "[dashboard.address] expected a unicast address"),
        ('address = "ff02::1"', "[dashboard.address] expected a unicast address"),
        ('host_names = "robot.local http://x"', "[dashboard.host_names] expected host names"),
        ("prot = 8420", "dashboard.prot"),
    ],
)
def test_a_bad_key_is_one_line_naming_the_file_and_key(
    tmp_path: Path, section: str, message: str
) -> None:
    config = sim_config(tmp_path)
    config.write_text(config.read_text() + f"\n[dashboard]\n{section}\n")
    with pytest.raises(ConfigError, match=None) as caught:
        load_config(config)
    assert message in str(caught.value) and str(config) in str(caught.value)
    done = robot("dashboard", "--config", str(config))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_the_command_is_in_the_help() -> None:
    done = robot("--help")
    assert done.returncode == 0 and "dashboard" in done.stdout
    assert "read-only" in robot("dashboard", "--help").stdout


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (("--port", "70000"), "[dashboard.port] expected 1024..65535, found 70000"),
        (("--port", "-1"), "[dashboard.port] expected 1024..65535, found -1"),
        (("--port", "80"), "[dashboard.port] expected 1024..65535, found 80"),
        (
            ("--address", "example.invalid"),
            "[dashboard.address] expected an IP address, found 'example.invalid'",
        ),
        (
            ("--address", "224.0.0.1"),
            "[dashboard.address] expected a unicast address, found '224.0.0.1'",
        ),
    ],
)
def test_the_options_are_checked_as_the_config_is(
    tmp_path: Path, option: tuple[str, str], message: str
) -> None:
    done = robot("dashboard", "--config", str(sim_config(tmp_path)), *option)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and f"--address/--port: {message}" in done.stderr


def test_sighup_is_ignored_and_said_so(tmp_path: Path) -> None:
    dashboard = DashboardRun(sim_config(tmp_path), "--port", "0", "--address", "0.0.0.0")
    try:
        dashboard.wait_for_log("the LAN's packets are dropped unless a drop-in allows them")
        dashboard.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "SIGHUP ignored" not in dashboard.log():
            assert dashboard.process.poll() is None, dashboard.log()
            assert time.monotonic() < deadline, dashboard.log()
            time.sleep(0.05)
        dashboard.url = dashboard.url.replace("0.0.0.0", "127.0.0.1")
        assert dashboard.state()["records"] == 0
    finally:
        assert dashboard.stop() == 0, dashboard.log()


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = robot("dashboard", "--config", str(sim_config(tmp_path)), "--port", str(port))
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"[dashboard] cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_address_not_of_this_machine_is_one_line_and_exit_2(tmp_path: Path) -> None:
    # 192.0.2.1: TEST-NET-1 (RFC 5737), never assigned to an interface.
    config = sim_config(tmp_path)
    done = robot("dashboard", "--config", str(config), "--address", "192.0.2.1")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "cannot listen on 192.0.2.1:8420: Cannot assign requested address" in done.stderr


def test_it_serves_the_page_and_follows_a_run_then_stops_on_sigterm(tmp_path: Path) -> None:
    config = sim_config(tmp_path)
    dashboard = DashboardRun(config, "--port", "0")
    try:
        waiting = dashboard.state()
        assert waiting["records"] == 0 and waiting["file"]["exists"] is False
        with urllib.request.urlopen(dashboard.url, timeout=5) as page:
            html = page.read().decode()
            assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        assert '<script src="/page.js"' in html
        for name in ("page.js", "page.css"):
            with urllib.request.urlopen(dashboard.url + name, timeout=5) as response:
                assert response.status == 200 and response.read()
        # Only the four paths: not the package's other files, nor the page under its name.
        for name in ("server.py", "page.html", "__init__.py", "dashboard/server.py"):
            with pytest.raises(urllib.error.HTTPError, match="404") as missing:
                urllib.request.urlopen(dashboard.url + name, timeout=5)
            assert missing.value.read() == b"not found\n"
        run = robot("run", "--config", str(config), "--max-ticks", "60", timeout_s=120)
        assert run.returncode == 0, run.stderr
        state = dashboard.state()
        for _ in range(100):  # the follower polls at twice the page's rate
            if state["tick"] == 59:
                break
            time.sleep(0.05)
            state = dashboard.state()
        assert (state["tick"], state["records"]) == (59, 60)
        assert state["health"]["rate_hz"] == 20.0
        assert state["action"]["name"] in state["layout"]["actions"]
    finally:
        code = dashboard.stop()
    assert code == 0, "".join(dashboard.lines)
    assert "dashboard: stopping" in "".join(dashboard.lines)


def test_without_a_readable_bundle_the_page_shows_indices(tmp_path: Path) -> None:
    config = sim_config(tmp_path)
    fixture = load_config(config).bundle.path
    config.write_text(config.read_text().replace(str(fixture), str(tmp_path / "no_bundle")))
    layout, problem = layout_for(load_config(config), tmp_path / "ticks.jsonl")
    assert problem is not None and "no_bundle" in problem
    assert (layout.channels, layout.actions, layout.ranger_deg) == ((), (), ())
    dashboard = DashboardRun(config, "--port", "0")
    try:
        assert dashboard.state()["layout"]["actions"] == []
    finally:
        assert dashboard.stop() == 0
    assert "showing channels and actions by index" in "".join(dashboard.lines)


def test_the_rangers_angles_come_from_the_reference_robots_channels(tmp_path: Path) -> None:
    layout, problem = layout_for(load_config(sim_config(tmp_path)), tmp_path / "ticks.jsonl")
    assert problem is None
    assert dict(zip(layout.channels, layout.ranger_deg, strict=True)) == {
        "left_distance_m": 45.0,
        "front_distance_m": 0.0,
        "right_distance_m": -45.0,
    }
    assert layout.actions[0] == "forward" and layout.bundle.startswith("obstacle_bundle")
