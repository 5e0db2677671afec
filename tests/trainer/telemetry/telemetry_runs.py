"""Real telemetry for the plotter's tests: ``python -m robot run`` on the ``sim`` backend.

The reference sim config with telemetry on every tick, rotated at ``max_bytes`` (the smallest
the config allows), and a supervisor tuned to give up quickly: a range under 0.4 m is a contact,
a recovery fails if another comes within 10 s, and two failures in a row stop the robot
(``stuck``, retried after 5 s). On a 4 m arena with six obstacles the robot is stopped several
times a simulated minute. ``learn``: the on-robot learner decides (ε, TD errors in the records).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
SIM_EXAMPLE = ROOT / "robot" / "examples" / "reference_sim.toml"
FIXTURE_BUNDLE = ROOT / "tests" / "fixtures" / "obstacle_bundle"
#: The smallest rotation size the config allows: a record is ~200-400 bytes.
MAX_BYTES = 10_000
REPLACEMENTS = (
    ("enabled = false                 # on-robot", "enabled = {learn}  # on-robot"),
    ('path = "telemetry/ticks.jsonl"', "path = {telemetry}"),
    ("every_n_ticks = 10 ", "every_n_ticks = {every} "),
    ("max_bytes = 10_000_000", f"max_bytes = {MAX_BYTES}"),
    ("backups = 3 ", "backups = 50 "),
    ("collision_distance_m = 0.03 ", "collision_distance_m = 0.4 "),
    ("settle_s = 3.0 ", "settle_s = 10.0 "),
    ("max_failed_recoveries = 3 ", "max_failed_recoveries = 2 "),
    ("stuck_retry_s = 30.0", "stuck_retry_s = 5.0"),
)


def sim_config(
    tmp_path: Path, telemetry: Path, *, learn: bool, seed: int = 0, every_n_ticks: int = 1
) -> Path:
    """The reference sim config writing telemetry to ``telemetry`` (see the module's doc),
    every ``every_n_ticks``-th tick."""
    text = SIM_EXAMPLE.read_text()
    text = text.replace('"../../tests/fixtures/obstacle_bundle"', json.dumps(str(FIXTURE_BUNDLE)))
    text = text.replace("[telemetry]\nenabled = false", "[telemetry]\nenabled = true")
    text = text.replace("seed = 0 ", f"seed = {seed} ")
    for old, new in REPLACEMENTS:
        assert old in text, old
        text = text.replace(
            old,
            new.format(
                learn=str(learn).lower(),
                telemetry=json.dumps(str(telemetry)),
                every=every_n_ticks,
            ),
        )
    if learn:
        state = json.dumps(str(tmp_path / "learning"))
        text = text.replace("[learning]\n", f"[learning]\nstate_dir = {state}\n")
    config = tmp_path / f"robot-{seed}.toml"
    config.write_text(text)
    return config


def robot_run(tmp_path: Path, config: Path, ticks: int) -> dict[str, Any]:
    """``python -m robot run --max-ticks ticks`` as a child process; its summary."""
    summary = tmp_path / "summary.json"
    command = ["run", "--config", str(config), "--max-ticks", str(ticks)]
    done = subprocess.run(
        [sys.executable, "-m", "robot", *command, "--summary-json", str(summary)],
        cwd=ROOT,
        env={**os.environ, "SIM2PI_STATE_DIR": str(tmp_path / "state")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(summary.read_text())


def plot_telemetry(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m trainer plot-telemetry ARGS`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "trainer", "plot-telemetry", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def records(path: Path) -> list[dict[str, Any]]:
    """The records of one telemetry file, as ``json`` reads them."""
    return [json.loads(line) for line in path.read_text().splitlines()]
