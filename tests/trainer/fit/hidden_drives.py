"""Helpers of the fit tests: a hidden robot's calibration drive (``python -m robot calibrate`` on
the ``sim`` backend, a child process, simulated time) and ``python -m trainer fit-robot``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "robot" / "examples" / "reference_sim.toml"
#: The learning benchmark's shifted robots (bench/shifted_learning.py) as [hardware.sim] keys.
ANGLED = {
    "motor_gain": 0.6,
    "dead_band": 0.30,
    "noise_std_m": 0.03,
    "latency_ticks": 1,
    "side_ranger_deg": 25.0,
}
MISMATCHED = {**ANGLED, "left_gain": 0.6, "side_ranger_deg": 45.0}
#: Two robots drawn from a cheap chassis' ranges (bench/fit_robots.py ``random_robot(71)``, (72)).
RANDOM_71 = {
    "left_gain": 0.703,
    "right_gain": 0.922,
    "dead_band": 0.278,
    "time_constant_s": 0.209,
    "latency_ticks": 2,
    "noise_std_m": 0.0052,
    "side_ranger_deg": 40.9,
}
RANDOM_72 = {
    "left_gain": 1.17,
    "right_gain": 0.505,
    "dead_band": 0.119,
    "time_constant_s": 0.079,
    "latency_ticks": 1,
    "noise_std_m": 0.0176,
    "side_ranger_deg": 42.9,
}
ROBOTS = {
    "angled": ANGLED,
    "mismatched": MISMATCHED,
    "random_71": RANDOM_71,
    "random_72": RANDOM_72,
}
#: Seeds tried, in order, until the drive may start (a start near an obstacle is refused).
SEEDS = range(10)


def robot_toml(folder: Path, robot: dict[str, Any], seed: int) -> Path:
    """The sim example without a bundle, in the default 4 m / 6-obstacle arena, with ``robot``'s
    [hardware.sim] keys and ``seed``."""
    lines = []
    for line in EXAMPLE.read_text().splitlines():
        key = line.split("=")[0].strip()
        if key in robot or key == "seed":
            continue
        lines.append(line)
        if line.strip() == "[hardware.sim]":
            lines.append(f"seed = {seed}")
            lines.extend(f"{k} = {v}" for k, v in robot.items())
    text = "\n".join(lines) + "\n"
    text = text.replace('"../../tests/fixtures/obstacle_bundle"', '"no_bundle_yet"')
    path = folder / "robot.toml"
    path.write_text(text)
    return path


def child(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m …`` in the repository, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", *argv],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def calibrate(folder: Path, robot: dict[str, Any]) -> tuple[Path, int]:
    """A complete calibration drive of ``robot``: the log and the seed that let it start."""
    log = folder / "calibration.jsonl"
    for seed in SEEDS:
        config = robot_toml(folder, robot, seed)
        done = child("robot", "calibrate", "--config", str(config), "--log", str(log))
        if done.returncode == 0:
            return log, seed
        assert done.returncode == 2, done.stderr[-2000:]  # refused: too near an obstacle
    raise AssertionError(f"no seed in {SEEDS} let the drive start")


def truth(log: Path) -> dict[str, Any]:
    """The sim backend's hidden robot, from the header (the test reads it; the fit never does)."""
    meta = json.loads(log.with_name(log.name + ".meta.json").read_text())
    return meta["sim"]["robot"]


def fit_robot(log: Path, out: Path) -> tuple[dict[str, Any], str]:
    """``python -m trainer fit-robot LOG --out OUT``: the profile read back, and what it printed."""
    done = child("trainer", "fit-robot", str(log), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    return tomllib.loads(out.read_text()), done.stdout
