"""Two ``robot run --learn`` on one state directory: the second is refused before a motor moves
(sim, gpio mock pins, serial), ``robot check`` names the first, and the first's state is kept
whole. A SIGKILLed holder leaves no stale lock.

On main before the lock, both runs started, exited 0 and shared one snapshot numbering, and the
first run's pruning deleted the second's final state.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot.cli import main
from robot.cli.bench import simulated_gpio
from robot.learning.state_lock import holder
from shared.qtable import list_snapshots, load_latest
from tests.robot.conftest import example, run_robot
from tests.robot.mcu import Microcontroller

# Their configs run the examples' TFLite policy (check probes it).
pytestmark = pytest.mark.tflite

ROOT = Path(__file__).resolve().parents[3]
CHANNELS = ("left_distance_m", "front_distance_m", "right_distance_m")
DRIVE_PINS = (12, 16, 13, 19)  # reference_gpio.toml's IN1..IN4
LEARNING_OFF = "[learning]\nenabled = false"


def config(directory: Path, name: str, state_dir: Path, *more: tuple[str, str]) -> Path:
    """``name`` with ``state_dir`` for learning (``--learn`` turns it on), in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    learning = f'[learning]\nenabled = false\nstate_dir = "{state_dir}"'
    if name == "reference_serial.toml":  # no [learning] there: add one
        path = example(directory, name, *more)
        path.write_text(path.read_text() + f"\n{learning}\n")
        return path
    return example(directory, name, (LEARNING_OFF, learning), *more)


def robot(*args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``python -m robot ARGS`` in a child process, to its end."""
    return run_robot(*args, timeout_s=timeout_s)


def start_learning(path: Path, state_dir: Path, *more: str) -> subprocess.Popen[str]:
    """``python -m robot run --learn`` on ``path`` in the background, once it holds the lock."""
    process = subprocess.Popen(
        [sys.executable, "-m", "robot", "run", "--config", str(path), "--learn", *more],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30.0
    while (found := holder(state_dir)) is None or found.pid != process.pid:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.05)
    return process


@pytest.fixture
def first(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A learning run on the sim backend that holds ``tmp_path/state`` until stopped."""
    state_dir = tmp_path / "state"
    path = config(tmp_path / "first", "reference_sim.toml", state_dir)
    summary = tmp_path / "first-summary.json"
    process = start_learning(path, state_dir, "--summary-json", str(summary))
    yield process, summary
    if process.poll() is None:
        process.kill()
        process.communicate()


def one_refusal(stderr: str, pid: int) -> str:
    """The refusal: the only ERROR line, naming the holder and how to stop it; no traceback."""
    errors = [line for line in stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    assert "expected no other run learning there, found PID" in errors[0]
    assert f"PID {pid} (" in errors[0] and f"stop it first (kill {pid}:" in errors[0]
    assert "first valid decision" not in stderr
    return errors[0]


def test_a_second_learning_run_is_refused_and_the_first_keeps_all_it_learnt(
    tmp_path: Path, first: tuple[subprocess.Popen[str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    process, summary_path = first
    state_dir = tmp_path / "state"
    # sim, through the real command line
    second = config(tmp_path / "second", "reference_sim.toml", state_dir)
    result = robot("run", "--config", str(second), "--learn", "--max-ticks", "3000")
    assert result.returncode == 2
    one_refusal(result.stderr, process.pid)
    assert "sim: simulated world" not in result.stderr  # refused before the backend opened
    # check names the holder without taking its lock, and is not failed by it
    checked = robot("check", "--config", str(second))
    assert checked.returncode == 0, checked.stdout
    assert f"learning state_dir {state_dir}: writable; PID {process.pid} (" in checked.stdout
    assert f"another learning run is refused until it stops (kill {process.pid})" in checked.stdout
    # gpio mock pins: refused, and no pin ever left 0
    factory, _, _ = simulated_gpio(CHANNELS, (1.5, 1.5, 1.5))
    try:
        gpio = config(tmp_path / "gpio", "reference_gpio.toml", state_dir)
        args = ["run", "--config", str(gpio), "--learn", "--max-ticks", "30"]
        assert main(args, pin_factory=factory) == 2
        for pin in DRIVE_PINS:
            assert {float(s.state) for s in factory.pin(pin).states} == {0.0}
    finally:
        factory.reset()
    one_refusal(caplog.text, process.pid)
    # serial: refused before the port opened (not even its opening stop frame was sent)
    mcu = Microcontroller()
    try:
        serial = config(
            tmp_path / "serial",
            "reference_serial.toml",
            state_dir,
            ('url = "/dev/ttyACM0"', f'url = "{mcu.path}"'),
            ("[telemetry]\nenabled = true\n", "[telemetry]\nenabled = false\n"),
        )
        result = robot("run", "--config", str(serial), "--learn", "--max-ticks", "50")
        assert result.returncode == 2
        one_refusal(result.stderr, process.pid)
        assert mcu.received == []
    finally:
        mcu.close()
    # The first run never noticed: it stops on SIGTERM and its final state is the newest.
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    updates = json.loads(summary_path.read_text())["learning"]["updates"]
    assert load_latest(state_dir).qtable.meta["updates"] == updates > 0
    assert len(list_snapshots(state_dir)) == 3  # keep = 3, all the first's
    assert holder(state_dir) is None


def test_a_sigkilled_learning_run_leaves_no_stale_lock(
    tmp_path: Path, first: tuple[subprocess.Popen[str], Path]
) -> None:
    process, _ = first
    state_dir = tmp_path / "state"
    deadline = time.monotonic() + 30.0
    while not list_snapshots(state_dir):  # killed once it has saved something
        assert time.monotonic() < deadline, "the first run never saved"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert holder(state_dir) is None  # the OS dropped it with the process
    record = json.loads((state_dir / "learner.lock").read_text())
    assert record["pid"] == process.pid  # the file stays, inert: it only says who held it last
    second = config(tmp_path / "second", "reference_sim.toml", state_dir)
    summary = tmp_path / "second-summary.json"
    args = ("--max-ticks", "600", "--summary-json", str(summary))
    result = robot("run", "--config", str(second), "--learn", *args)
    assert result.returncode == 0, result.stderr
    learning = json.loads(summary.read_text())["learning"]
    assert learning["source"].startswith(str(state_dir))  # resumed from the killed run's state
    assert load_latest(state_dir).qtable.meta["updates"] == learning["updates"]
