"""The page in a real headless Chromium on odd telemetry: an old file, records of the wrong
shape, lines it skips, a file it may not read, and a ``/state.json`` it cannot draw. It says
what is wrong ("stale", "bad record", the permission), never "dashboard unreachable".

Skipped where Chromium or Playwright is absent, as ``test_dashboard_browser.py`` is.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from tests.robot.dashboard.dashboard_process import (
    DashboardRun,
    sim_config,
    without_file_permissions,
)
from tests.robot.dashboard.test_dashboard_browser import (  # noqa: F401 (fixtures)
    browser,
    page,
    pytestmark,
)

BADGES = """() => ({
    live: document.getElementById('live').textContent,
    liveClass: document.getElementById('live').className,
    bad: document.getElementById('bad-record').hidden
        ? null : document.getElementById('bad-record').textContent,
    bars: document.querySelectorAll('#q-bars .bar').length,
    badLines: document.getElementById('bad-lines').textContent,
    tick: document.getElementById('tick').textContent})"""


def tick(n: int, **fields: object) -> str:
    """One tick record's line (``fields`` override)."""
    base = {"t_s": n * 0.05, "tick": n, "obs": [1.0, 0.5, 0.25], "action": 0, "q": [0.1] * 5}
    return json.dumps({**base, **fields}) + "\n"


def badges_until(tab: Any, ok: Any, timeout_s: float = 20.0) -> dict[str, Any]:
    """The page's badges once ``ok`` holds for them; every one seen on the way must not say
    the dashboard is unreachable."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = tab.evaluate(BADGES)
        assert "unreachable" not in now["live"], now
        if ok(now):
            return now
        assert time.monotonic() < deadline, f"the page never got there; it shows {now}"
        time.sleep(0.05)


def telemetry_dir(tmp_path: Path) -> Path:
    ticks = tmp_path / "telemetry" / "ticks.jsonl"
    ticks.parent.mkdir()
    return ticks


def test_an_old_file_is_stale_and_odd_records_are_bad_records(
    tmp_path: Path,
    page: Any,  # noqa: F811 (the fixture)
) -> None:
    config = sim_config(tmp_path)
    ticks = telemetry_dir(tmp_path)
    ticks.write_text("".join(tick(n) for n in range(5)))
    written = time.time() - 7 * 60
    os.utime(ticks, (written, written))
    dashboard = DashboardRun(config, "--port", "0")
    try:
        page.goto(dashboard.url)
        first = badges_until(page, lambda s: s["live"] != "connecting…")
        assert first["live"].startswith("no new ticks for 4"), first  # never "live"
        with ticks.open("a") as file:
            file.write("[" * 5000 + "]" * 5000 + "\n")
            file.write(tick(5, q=[1.0] * 40_000))  # a line too long to be a record
            file.write(tick(6, obs="far", q=[-1e308] * 2_000 + [1e308]))
        odd = badges_until(page, lambda s: s["tick"] == "6")
        assert (odd["live"], odd["bad"], odd["badLines"]) == ("live", "bad record: obs, q", "2")
        assert odd["bars"] == 64
        with ticks.open("a") as file:
            file.write(tick(7))
        fine = badges_until(page, lambda s: s["tick"] == "7")
        assert (fine["live"], fine["bad"], fine["bars"]) == ("live", None, 5)
    finally:
        assert dashboard.stop() == 0, dashboard.log()


def test_a_state_it_cannot_draw_is_a_bad_record(
    tmp_path: Path,
    page: Any,  # noqa: F811 (the fixture)
) -> None:
    # What an older or broken server could send: the page checks shapes itself.
    ticks = telemetry_dir(tmp_path)
    ticks.write_text(tick(0))
    dashboard = DashboardRun(sim_config(tmp_path), "--port", "0")
    try:
        real = dashboard.state()
        while real["records"] == 0:
            time.sleep(0.05)
            real = dashboard.state()
        served = {"body": json.dumps(real)}
        page.route(
            "**/state.json",
            lambda route: route.fulfill(
                status=200, content_type="application/json", body=served["body"]
            ),
        )
        page.goto(dashboard.url)
        badges_until(page, lambda s: s["live"] == "live" and s["bars"] == 5)
        served["body"] = json.dumps({**real, "obs": "far", "q": 5})
        now = badges_until(page, lambda s: s["bad"] is not None)
        assert (now["live"], now["bad"], now["bars"]) == ("live", "bad record: obs, q", 0)
        served["body"] = json.dumps({**real, "q": [1.0] * 200_000})  # Math.min(...q) overflows
        now = badges_until(page, lambda s: s["bars"] == 64)
        assert (now["live"], now["bad"]) == ("live", "bad record: q")
        served["body"] = json.dumps({**real, "stop": None})
        now = badges_until(page, lambda s: s["live"].startswith("bad record ("))
        assert now["liveClass"] == "badge bad"
        served["body"] = '{"records": NaN}'
        badges_until(page, lambda s: s["live"].startswith("bad record (not JSON"))
        served["body"] = json.dumps(real)
        now = badges_until(page, lambda s: s["live"] == "live")
        assert (now["bad"], now["bars"]) == (None, 5)
    finally:
        assert dashboard.stop() == 0, dashboard.log()


def test_an_unreadable_directory_is_said_on_the_page(
    tmp_path: Path,
    page: Any,  # noqa: F811 (the fixture)
) -> None:
    ticks = telemetry_dir(tmp_path)
    ticks.write_text(tick(0))
    ticks.parent.chmod(0)
    dashboard = DashboardRun(sim_config(tmp_path), "--port", "0", prefix=without_file_permissions())
    try:
        page.goto(dashboard.url)
        said = badges_until(page, lambda s: "Permission denied" in s["live"])
        assert said == {**said, "live": f"cannot read {ticks}: Permission denied"}
        assert said["liveClass"] == "badge bad"
        ticks.parent.chmod(0o755)
        badges_until(page, lambda s: s["tick"] == "0")
    finally:
        ticks.parent.chmod(0o755)
        assert dashboard.stop() == 0, dashboard.log()
