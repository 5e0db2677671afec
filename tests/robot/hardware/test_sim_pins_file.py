"""SIM2PI_SIM_PINS_FILE: the sim backend's drive pins, readable outside the process, and
``robot stop`` driving them to 0 there (what the system tests read; tests/system)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from robot.hardware.sim import pin_record
from robot.hardware.sim.pin_record import PINS_FILE_VARIABLE, PinRecorder, write_pins

REPO = Path(__file__).resolve().parents[3]


class FakePin:
    def __init__(self, state: float) -> None:
        self.state = state


def test_a_change_is_recorded_and_zeros_are_never_held_back(tmp_path, monkeypatch):
    clock = SimpleNamespace(monotonic=lambda: now[0])
    now = [100.0]
    monkeypatch.setattr(pin_record, "time", clock)
    path = tmp_path / "pins.json"
    left, right = FakePin(0.0), FakePin(0.0)
    recorder = PinRecorder(path, {"GPIO12": left, "GPIO13": right})
    recorder.record()
    assert json.loads(path.read_text())["pins"] == {"GPIO12": 0.0, "GPIO13": 0.0}
    left.state = 0.8
    now[0] += 2 * pin_record.MIN_INTERVAL_S
    recorder.record()
    record = json.loads(path.read_text())
    assert record == {
        "writer": "robot run",
        "pid": os.getpid(),
        "pins": {"GPIO12": 0.8, "GPIO13": 0.0},
    }
    left.state = 0.5  # within MIN_INTERVAL_S of the last write: held back …
    recorder.record()
    assert json.loads(path.read_text())["pins"]["GPIO12"] == 0.8
    left.state = 0.0  # … but a stop never is
    recorder.record()
    assert json.loads(path.read_text())["pins"] == {"GPIO12": 0.0, "GPIO13": 0.0}


def test_robot_stop_drives_the_recorded_pins_to_0(tmp_path):
    config = tmp_path / "robot.toml"
    example = (REPO / "robot/examples/reference_sim.toml").read_text()
    config.write_text(example.replace("../../tests/fixtures", str(REPO / "tests/fixtures")))
    path = tmp_path / "pins.json"
    write_pins(path, "robot run", {"GPIO12": 0.8, "GPIO16": 0.0, "GPIO13": 0.8, "GPIO19": 0.0})
    result = subprocess.run(
        [sys.executable, "-m", "robot", "stop", "--config", str(config)],
        env={**os.environ, PINS_FILE_VARIABLE: str(path)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(path.read_text())
    assert record["writer"] == "robot stop"
    assert record["pins"] == {"GPIO12": 0.0, "GPIO16": 0.0, "GPIO13": 0.0, "GPIO19": 0.0}
    assert "stopped: sim: drive pins low" in result.stderr
