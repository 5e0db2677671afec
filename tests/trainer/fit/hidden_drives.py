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

from bench.fit_robots import ANGLED, MISMATCHED, random_robot

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "robot" / "examples" / "reference_sim.toml"
# The benchmark's hidden robots ([hardware.sim] keys): the learning benchmark's shifted robots
# and two drawn from a cheap chassis' ranges.
ROBOTS = {
    "angled": ANGLED,
    "mismatched": MISMATCHED,
    "random_71": random_robot(71),
    "random_72": random_robot(72),
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
