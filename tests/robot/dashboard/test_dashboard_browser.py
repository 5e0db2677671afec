"""The dashboard's page in a real headless Chromium (Playwright), against real ``robot run``s:
the values follow the run, through rotation, a restart and a stop provoked for real.

Skipped, with the reason, only where Chromium or Playwright is absent (CI installs both:
``.ci/run``'s apt list and ``tests/requirements-browser.txt``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.robot.cli.robot_process import RobotRun
from tests.robot.conftest import FIXTURE_BUNDLE, example
from tests.robot.dashboard.dashboard_process import ROOT, DashboardRun, sim_config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="Playwright is not installed: pip install -r tests/requirements-browser.txt",
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason="Chromium is not installed (Debian: apt-get install chromium)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The system's Chromium, headless, driven by Playwright."""
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; an error in the page's script fails the test."""
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], errors


def shown(page: Any) -> dict[str, Any]:
    """What the page shows now, read in one go (one render)."""
    return page.evaluate(
        """() => ({
        tick: document.getElementById('tick').textContent,
        front: document.getElementById('range-1')?.textContent ?? null,
        action: document.getElementById('action').textContent,
        bars: document.querySelectorAll('#q-bars .bar').length,
        stop: document.getElementById('stop-current').textContent,
        stops: [...document.querySelectorAll('#stop-counts li')].map(li => li.textContent),
        live: document.getElementById('live').textContent,
        rate: document.getElementById('rate').textContent,
        restarts: document.getElementById('restarts').textContent,
        opened: Number(document.getElementById('opened').textContent),
        missed: Number(document.getElementById('missed').textContent),
        })"""
    )


def wait_until(page: Any, ok: Callable[[dict[str, Any]], bool], timeout_s: float = 30.0) -> dict:
    """Poll what the page shows until ``ok`` holds."""
    deadline = time.monotonic() + timeout_s
    now = shown(page)
    while not ok(now):
        assert time.monotonic() < deadline, f"the page never got there; it shows {now}"
        time.sleep(0.05)
        now = shown(page)
    return now


def telemetry(path: Path) -> dict[int, dict]:
    """Every record in ``path`` and its rotated files, by tick (the newest file's last)."""
    records: dict[int, dict] = {}
    for file in sorted(path.parent.glob(path.name + "*"), reverse=True):
        for line in file.read_text().splitlines():
            if line.endswith("}"):
                record = json.loads(line)
                records[record["tick"]] = record
    return records


def matches_a_record(now: dict[str, Any], path: Path) -> bool:
    """The tick and front range on the page are those of a record the run wrote."""
    record = telemetry(path).get(int(now["tick"]))
    return record is not None and now["front"] == f"{record['obs'][1]:.2f} m"


def start_run(config: Path, tmp_path: Path) -> RobotRun:
    return RobotRun(config, state_dir=tmp_path / "state")


def end_run(run: RobotRun, signum: int = signal.SIGTERM) -> int:
    run.send(signum)
    return run.process.wait(timeout=30)


def test_the_page_follows_a_sim_run_through_rotation(tmp_path: Path, page: Any) -> None:
    # 10 kB files, a record every 10th tick on simulated time: a rotation every ~second.
    config = sim_config(tmp_path, max_bytes=10_000, every=10)
    ticks_file = tmp_path / "telemetry" / "ticks.jsonl"
    dashboard = DashboardRun(config, "--port", "0")
    run = start_run(config, tmp_path)
    try:
        page.goto(dashboard.url)
        first = wait_until(page, lambda s: s["live"] == "live" and s["front"] is not None)
        assert matches_a_record(first, ticks_file), (first, ticks_file.read_text()[-400:])
        assert first["action"] in {"forward", "veer_left", "veer_right", "spin_left", "spin_right"}
        assert first["bars"] == 5 and first["stop"] == "driving"
        later = wait_until(page, lambda s: int(s["tick"]) > int(first["tick"]) and s["opened"] >= 3)
        assert later["rate"] == "20.0"  # the loop's rate on its own (simulated) clock
        assert (tmp_path / "telemetry" / "ticks.jsonl.1").exists()
        # Still following after the rotations: what it shows is in the newest files.
        settled = wait_until(page, lambda s: matches_a_record(s, ticks_file))
        assert int(settled["tick"]) >= int(later["tick"])
    finally:
        assert end_run(run) == 0, "".join(run.lines)
    try:
        # Every record the run wrote was counted: seen, or missed and said so on the page.
        last = max(telemetry(ticks_file))
        state = dashboard.state()
        for _ in range(100):
            if state["tick"] == last:
                break
            time.sleep(0.05)
            state = dashboard.state()
        assert state["records"] + state["missed"] == last // 10 + 1, state
        assert wait_until(page, lambda s: s["tick"] == str(last))["missed"] == state["missed"]
    finally:
        assert dashboard.stop() == 0, "".join(dashboard.lines)


def test_the_page_survives_the_runtime_stopping_and_restarting(tmp_path: Path, page: Any) -> None:
    config = sim_config(tmp_path, every=10)
    ticks_file = tmp_path / "telemetry" / "ticks.jsonl"
    dashboard = DashboardRun(config, "--port", "0")
    try:
        page.goto(dashboard.url)
        wait_until(page, lambda s: s["live"] == "no telemetry file yet")
        first = start_run(config, tmp_path)
        wait_until(page, lambda s: s["live"] == "live" and int(s["tick"]) > 2000)
        assert end_run(first) == 0, "".join(first.lines)
        idle = wait_until(page, lambda s: s["live"].startswith("no new ticks for"))
        assert idle["tick"] == str(max(telemetry(ticks_file)))
        assert idle["restarts"] == "0"
        second = start_run(config, tmp_path)  # appends to the same file, ticks from 0 again
        try:
            wait_until(page, lambda s: s["restarts"] == "1" and s["live"] == "live")
            wait_until(page, lambda s: matches_a_record(s, ticks_file))
        finally:
            assert end_run(second) == 0, "".join(second.lines)
    finally:
        assert dashboard.stop() == 0, "".join(dashboard.lines)


class Microcontroller:
    """``python -m robot.hardware.sim.mcu_emulator``: the simulated robot behind a pty, in real
    time, as a process of its own (so it can freeze: SIGSTOP)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            # Imported, then run: `python -m` would run its main before the module's last
            # function is defined (the module's `__main__` block is not its last statement).
            [sys.executable, "-m", "robot.hardware.sim.mcu_emulator", "--seed", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = re.search(r"emulator on (\S+);", line)
        assert found, line
        self.path = found.group(1)

    def close(self) -> None:
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        self.process.wait(timeout=10)


def test_a_frozen_microcontroller_shows_as_a_stale_stop(tmp_path: Path, page: Any) -> None:
    mcu = Microcontroller()
    config = example(
        tmp_path,
        "reference_serial.toml",
        ('url = "/dev/ttyACM0"', f'url = "{mcu.path}"'),
        ('policy = "tflite-int8"', 'policy = "qtable"'),
    )
    dashboard = DashboardRun(config, "--port", "0")
    run = start_run(config, tmp_path)
    try:
        page.goto(dashboard.url)
        before = wait_until(page, lambda s: s["live"] == "live" and s["stop"] == "driving")
        # (A board that has just booted reports its fail-safe: a "fault" stop may come first.)
        assert not any(reason.startswith("stale") for reason in before["stops"])
        mcu.process.send_signal(signal.SIGSTOP)  # no more sensor frames: readings go stale
        stale = wait_until(page, lambda s: s["stop"] == "stale")
        assert "stale ×1" in stale["stops"]
        assert stale["live"] == "live"  # the loop still ticks, with its motors stopped
        mcu.process.send_signal(signal.SIGCONT)
        driving = wait_until(page, lambda s: s["stop"] == "driving")
        assert "stale ×1" in driving["stops"]  # one event, however many ticks it held
        assert "motors stopped: stale" in "".join(run.lines)
    finally:
        assert end_run(run) == 0, "".join(run.lines)
        mcu.close()
        assert dashboard.stop() == 0, "".join(dashboard.lines)


def test_a_learning_run_shows_epsilon_and_its_updates(tmp_path: Path, page: Any) -> None:
    config = sim_config(tmp_path, every=10)
    dashboard = DashboardRun(config, "--port", "0")
    run = RobotRun(config, "--learn", state_dir=tmp_path / "state")
    learning = """() => document.getElementById('learning').hidden ? null : {
        epsilon: Number(document.getElementById('epsilon').textContent),
        events: document.getElementById('learn-events').textContent,
        updates: Number(document.getElementById('updates').textContent)}"""
    try:
        page.goto(dashboard.url)
        deadline = time.monotonic() + 60
        first = page.evaluate(learning)
        while first is None or not first["updates"] > 0:
            assert time.monotonic() < deadline, "the learning panel never filled in"
            time.sleep(0.05)
            first = page.evaluate(learning)
        assert 0.0 <= first["epsilon"] <= 1.0 and first["events"] != "–"
        while (now := page.evaluate(learning))["updates"] <= first["updates"]:
            assert time.monotonic() < deadline, "the updates never grew"
            time.sleep(0.05)
        assert now["epsilon"] <= first["epsilon"]  # ε decays (to its floor)
    finally:
        assert end_run(run) == 0, "".join(run.lines)
        assert dashboard.stop() == 0, "".join(dashboard.lines)


def test_without_the_bundles_names_the_observation_is_a_list(tmp_path: Path, page: Any) -> None:
    # The dashboard's config names no readable bundle (as on another env in software in the
    # loop, whose observation is not ranges): no top view, values by index, actions by number.
    config = sim_config(tmp_path, every=10)
    unnamed = tmp_path / "dashboard.toml"  # same directory: the same telemetry file
    unnamed.write_text(config.read_text().replace(str(FIXTURE_BUNDLE), str(tmp_path / "none")))
    dashboard = DashboardRun(unnamed, "--port", "0")
    run = start_run(config, tmp_path)
    try:
        page.goto(dashboard.url)
        wait_until(page, lambda s: s["live"] == "live" and s["bars"] == 5)
        listed = page.evaluate(
            """() => ({
            hidden: document.getElementById('topview').hidden,
            items: [...document.querySelectorAll('#obs-list li')].map(li => li.textContent),
            action: document.getElementById('action').textContent})"""
        )
        assert listed["hidden"] is True
        assert [item.split(":")[0] for item in listed["items"]] == ["obs[0]", "obs[1]", "obs[2]"]
        assert re.fullmatch(r"action \d", listed["action"])
    finally:
        assert end_run(run) == 0, "".join(run.lines)
        assert dashboard.stop() == 0, "".join(dashboard.lines)
