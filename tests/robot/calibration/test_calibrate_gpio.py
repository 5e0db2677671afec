"""``robot calibrate`` on the ``gpio`` backend, gpiozero's MockFactory as the pins: the rangers
echo at set distances (``robot.cli.bench.simulated_gpio``), the drive's PWM pins are read back."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import pytest

from robot.calibration.preflight import CalibrationRefusedError, preflight
from robot.cli import main
from robot.cli.bench import simulated_gpio
from robot.config import BumperConfig
from robot.control.clock import MonotonicClock
from robot.hardware.gpio import GpioHardware
from shared.reference_robot import obstacle_avoid_spec
from tests.robot.conftest import example

CHANNELS = ("left_distance_m", "front_distance_m", "right_distance_m")
#: The reference robot's drive pins (reference_gpio.toml): left IN1/IN2, right IN3/IN4.
LEFT_FORWARD, LEFT_BACKWARD, RIGHT_FORWARD, RIGHT_BACKWARD = 12, 16, 13, 19
SHORT_PLAN = """
[calibration]
duties = [0.5]
pivot_duties = [0.6]
still_s = 0.3
step_s = 0.4
pivot_s = 0.3
pause_s = 0.1
"""


def _run(tmp_path: Path, distances_m: tuple[float, ...]) -> tuple:
    factory, _, _ = simulated_gpio(CHANNELS, distances_m)
    config = example(tmp_path, "reference_gpio.toml")
    config.write_text(config.read_text() + SHORT_PLAN)
    log = tmp_path / "calibration.jsonl"
    try:
        code = main(["calibrate", "--config", str(config), "--log", str(log)], pin_factory=factory)
        history = {
            pin: [float(state.state) for state in factory.pin(pin).states]
            for pin in (LEFT_FORWARD, LEFT_BACKWARD, RIGHT_FORWARD, RIGHT_BACKWARD)
        }
    finally:
        factory.reset()
    return code, history, log


def test_the_plan_drives_the_pwm_pins(tmp_path: Path) -> None:
    code, history, log = _run(tmp_path, (1.0, 1.0, 1.0))
    assert code == 0
    # spin_left: left backward, right forward; spin_right the reverse; each wheel alone pivots.
    assert 0.5 in history[LEFT_BACKWARD] and 0.5 in history[RIGHT_FORWARD]
    assert 0.5 in history[LEFT_FORWARD] and 0.5 in history[RIGHT_BACKWARD]
    assert 0.6 in history[LEFT_FORWARD] and 0.6 in history[LEFT_BACKWARD]
    assert 0.6 in history[RIGHT_FORWARD] and 0.6 in history[RIGHT_BACKWARD]
    assert all(states[-1] == 0.0 for states in history.values())  # stopped at the end
    meta = json.loads(log.with_name("calibration.jsonl.meta.json").read_text())
    assert meta["summary"]["outcome"] == "complete"
    assert meta["hardware"]["backend"] == "gpio"
    sensors = meta["hardware"]["distance_sensors"]
    assert [s["channel"] for s in sensors] == list(CHANNELS)


def test_an_obstacle_within_safe_distance_is_refused_before_any_motor_moves(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    code, history, log = _run(tmp_path, (1.0, 0.2, 1.0))
    assert code == 2
    refusals = [r.getMessage() for r in caplog.records if "refused to start" in r.getMessage()]
    assert len(refusals) == 1 and "front_distance_m reads 0.2" in refusals[0], refusals
    assert "safe_distance_m (0.35 m)" in refusals[0]
    assert all(set(states) <= {0.0} for states in history.values()), history
    assert not log.exists()


def test_a_pressed_bumper_is_refused_before_any_motor_moves() -> None:
    factory, config, _ = simulated_gpio(CHANNELS, (1.0, 1.0, 1.0))
    config = dataclasses.replace(config, bumper=BumperConfig(pin=26))
    spec = obstacle_avoid_spec().observation
    try:
        with GpioHardware(config, CHANNELS, clock=time.monotonic, pin_factory=factory) as gpio:
            factory.pin(26).drive_low()  # pull-up: the switch closes to ground
            with pytest.raises(CalibrationRefusedError, match="the bumper is pressed"):
                preflight(
                    gpio,
                    MonotonicClock(),
                    spec,
                    period_s=0.05,
                    max_age_s=0.3,
                    safe_distance_m=0.35,
                    wake=threading.Event(),
                )
            states = [float(s.state) for pin in (12, 16, 13, 19) for s in factory.pin(pin).states]
            assert set(states) == {0.0}
    finally:
        factory.reset()
