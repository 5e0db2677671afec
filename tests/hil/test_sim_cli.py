"""``python -m robot check`` and ``run`` on the sim backend, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "robot" / "examples" / "reference_sim.toml"


def _robot(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIM2PI_STATE_DIR": str(tmp_path / "state")}
    return subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "robot", *args, "--config", str(CONFIG)],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_passes_on_the_simulated_robot(tmp_path: Path) -> None:
    done = _robot(tmp_path, "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sim: simulated world behind gpiozero mock pins" in done.stdout
    assert "gpio: pin factory" not in done.stdout, done.stdout
    assert "check    all well" in done.stdout


@pytest.mark.slow
def test_run_a_simulated_minute(tmp_path: Path) -> None:
    done = _robot(tmp_path, "run", "--max-ticks", "1200")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    # 1200 ticks at 20 Hz on simulated time: a minute, whatever the host's speed.
    assert "1200 ticks in 59.9" in output, output
    assert "motor stops: none" in output
    assert "motors stopped: max_ticks (1200)" in output
