"""``scripts/bench_dashboard``: what the dashboard costs while it follows a live run.

A real-time control loop (``python -m robot run`` on the serial backend, its microcontroller the
emulator of the simulated robot on a pty) writes every tick's telemetry at 20 Hz. Runs alternate
without and with ``python -m robot dashboard`` following it and an HTTP client polling
``/state.json`` at the page's rate (10 Hz): the dashboard's RSS and CPU share, and the loop's
lateness (``--summary-json``: p50, p99, max) in each condition, with the spread across runs.
Optionally (``--screenshot PNG``) one more run with the page open in headless Chromium, captured.

Prints the machine and the figures, and writes them with the record (``bench/record.py``) to
``<out>/dashboard.json`` (default ``runs/bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import record

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "tests" / "fixtures" / "obstacle_bundle"
# Imported, then run: the module's `__main__` block comes before its last function.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
CHROMIUM_ARGS += ["--disable-background-networking", "--disable-component-update"]
CHROMIUM_ARGS += ["--disable-sync"]


def serial_config(directory: Path, pty: str) -> Path:
    """reference_serial.toml on ``pty`` (it records every tick: 20 Hz telemetry)."""
    text = (ROOT / "robot" / "examples" / "reference_serial.toml").read_text()
    for old, new in (
        ('"../../tests/fixtures/obstacle_bundle"', json.dumps(str(BUNDLE))),
        ('url = "/dev/ttyACM0"', f'url = "{pty}"'),
        ("every_n_ticks = 1\n", "every_n_ticks = 1\n"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    path = directory / "robot.toml"
    path.write_text(text)
    return path


@contextmanager
def emulator() -> Iterator[str]:
    """The simulated robot's microcontroller on a pty, in real time; yields the pty's path."""
    process = subprocess.Popen(
        [sys.executable, "-m", "robot.hardware.sim.mcu_emulator", "--seed", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        found = re.search(r"emulator on (\S+);", process.stdout.readline())
        assert found, "the emulator did not start"
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def dashboard(config: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``python -m robot dashboard`` on a free port; yields the process and its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "robot", "dashboard", "--config", str(config), "--port", "0"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if found := re.search(r"dashboard: (http://\S+/) following", line):
                break
        else:
            raise RuntimeError("the dashboard did not start")
        threading.Thread(target=process.stderr.read, daemon=True).start()
        yield process, found.group(1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


class Usage:
    """The RSS and CPU time of one process, sampled from /proc while a run lasts."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rss_kib: list[int] = []
        self.start = (time.monotonic(), self.cpu_s())

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def sample(self) -> None:
        status = Path(f"/proc/{self.pid}/status").read_text()
        self.rss_kib.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)))

    def result(self) -> dict[str, float]:
        wall = time.monotonic() - self.start[0]
        return {
            "cpu_share_pct": round(100 * (self.cpu_s() - self.start[1]) / wall, 2),
            "rss_mib_max": round(max(self.rss_kib) / 1024, 1),
            "rss_mib_last": round(self.rss_kib[-1] / 1024, 1),
        }


def poll(url: str, rate_hz: float, done: threading.Event, usage: Usage) -> int:
    """GET ``/state.json`` at ``rate_hz`` (the page's rate) until ``done``; the requests made."""
    requests = 0
    while not done.wait(1.0 / rate_hz):
        with urllib.request.urlopen(url + "state.json", timeout=5) as response:
            json.load(response)
        requests += 1
        if requests % int(rate_hz) == 0:
            usage.sample()
    return requests


def robot_run(config: Path, ticks: int, state: Path) -> dict[str, Any]:
    """One ``robot run`` of ``ticks`` ticks; its ``--summary-json``."""
    summary = state / "summary.json"
    command = [sys.executable, "-m", "robot", "run", "--config", str(config)]
    done = subprocess.run(
        [*command, "--max-ticks", str(ticks), "--summary-json", str(summary)],
        cwd=ROOT,
        env={**os.environ, "SIM2PI_STATE_DIR": str(state)},
        check=False,
        capture_output=True,
        text=True,
        timeout=ticks / 20 + 120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"robot run exited {done.returncode}: {done.stderr[-2000:]}")
    return json.loads(summary.read_text())


def measured_run(config: Path, ticks: int, state: Path, with_dashboard: bool) -> dict[str, Any]:
    """One run without or with the dashboard and a 10 Hz poller attached."""
    if not with_dashboard:
        summary = robot_run(config, ticks, state)
        return {"dashboard": False, "lateness_us": summary["lateness_us"]}
    with dashboard(config) as (process, url):
        usage = Usage(process.pid)
        usage.sample()
        done = threading.Event()
        counted: list[int] = []
        poller = threading.Thread(target=lambda: counted.append(poll(url, 10.0, done, usage)))
        poller.start()
        try:
            summary = robot_run(config, ticks, state)
        finally:
            done.set()
            poller.join()
        return {
            "dashboard": True,
            "lateness_us": summary["lateness_us"],
            "requests": counted[0],
            **usage.result(),
        }


def screenshot(config: Path, ticks: int, state: Path, png: Path) -> None:
    """The page in headless Chromium during a run, captured to ``png``."""
    from playwright.sync_api import sync_playwright

    with dashboard(config) as (_, url), sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1100, "height": 450})
        page.goto(url)
        runner = threading.Thread(target=robot_run, args=(config, ticks, state))
        runner.start()
        live = "() => document.getElementById('live').textContent"
        deadline = time.monotonic() + 60
        while page.evaluate(live) != "live":  # (the page's CSP forbids wait_for_function's eval)
            assert time.monotonic() < deadline, "the page never went live"
            time.sleep(0.1)
        time.sleep(4.0)
        page.screenshot(path=str(png))
        browser.close()
        runner.join()


def spread(runs: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Median, min and max over ``runs`` of lateness ``key``."""
    values = [r["lateness_us"][key] for r in runs]
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    """Measure, print, write ``dashboard.json``."""
    parser = argparse.ArgumentParser(prog="scripts/bench_dashboard", description=__doc__)
    parser.add_argument("--pairs", type=int, default=3, help="runs without+with (default 3)")
    parser.add_argument("--ticks", type=int, default=400, help="ticks per run at 20 Hz (400)")
    parser.add_argument("--screenshot", type=Path, default=None, help="also capture the page")
    parser.add_argument(
        "--out", type=Path, default=record.SCRATCH_DIR, help="where dashboard.json goes"
    )
    args = parser.parse_args(argv)
    if args.pairs < 1 or args.ticks < 40:
        parser.error("expected --pairs >= 1 and --ticks >= 40")
    env = record.environment(sys.argv[1:] if argv is None else argv, prog="scripts/bench_dashboard")
    record.print_environment(env)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, emulator() as pty:
        config = serial_config(Path(tmp), pty)
        robot_run(config, 40, Path(tmp))  # warm-up: the TFLite probe's verdict is cached
        for pair in range(args.pairs):
            for with_dashboard in (pair % 2 == 1, pair % 2 == 0):  # alternate which goes first
                run = measured_run(config, args.ticks, Path(tmp), with_dashboard)
                runs.append(run)
                print(json.dumps(run))
        if args.screenshot is not None:
            screenshot(config, 200, Path(tmp), args.screenshot)
            print(f"screenshot: {args.screenshot} ({args.screenshot.stat().st_size} bytes)")
    without = [r for r in runs if not r["dashboard"]]
    with_it = [r for r in runs if r["dashboard"]]
    results = {
        "ticks_per_run": args.ticks,
        "rate_hz": 20.0,
        "poll_hz": 10.0,
        "runs": runs,
        "lateness_p50_us": {"without": spread(without, "p50"), "with": spread(with_it, "p50")},
        "lateness_p99_us": {"without": spread(without, "p99"), "with": spread(with_it, "p99")},
        "dashboard_cpu_share_pct": [r["cpu_share_pct"] for r in with_it],
        "dashboard_rss_mib_max": max(r["rss_mib_max"] for r in with_it),
    }
    for key in ("lateness_p50_us", "lateness_p99_us"):
        w, d = results[key]["without"], results[key]["with"]
        overlap = d["min"] <= w["max"] and w["min"] <= d["max"]
        results[key]["beyond_noise"] = not overlap
        print(
            f"{key}: without median {w['median']} ({w['min']}–{w['max']}), with median "
            f"{d['median']} ({d['min']}–{d['max']}): "
            + ("ranges do not overlap" if not overlap else "within the spread (noise)")
        )
    print(
        f"dashboard: CPU {results['dashboard_cpu_share_pct']} % of one core, "
        f"RSS max {results['dashboard_rss_mib_max']} MiB"
    )
    path = record.write_json("dashboard", {"results": results}, record.finish(env), args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
