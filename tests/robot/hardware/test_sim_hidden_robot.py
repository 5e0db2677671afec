"""The ``sim`` backend's hidden robot: ``[hardware.sim]`` ``left_gain``, ``right_gain``,
``dead_band``, ``time_constant_s``, ``latency_ticks``, ``side_ranger_deg`` reach the world
(defaults: the simulator's reference robot), and the calibration header's truth reports them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from robot.calibration.session import run_calibration
from robot.config import SimConfig, load_config
from robot.errors import ConfigError
from robot.hardware.sim.backend import WorldClock, build_world, delay_duties
from shared.world import DriveParams, reference_sensors
from tests.robot.conftest import example


def test_the_defaults_are_the_reference_robot() -> None:
    world = build_world(SimConfig(gpio=None))
    assert world.drive == DriveParams()
    assert [s.angle_rad for s in world.sensors] == [s.angle_rad for s in reference_sensors()]


def test_the_keys_reach_the_world() -> None:
    config = SimConfig(
        gpio=None,
        motor_gain=0.5,
        left_gain=0.8,
        right_gain=1.2,
        dead_band=0.3,
        time_constant_s=0.2,
        side_ranger_deg=25.0,
    )
    world = build_world(config)
    drive = world.drive
    assert (drive.left_gain, drive.right_gain) == pytest.approx((0.4, 0.6))
    assert (drive.dead_band, drive.time_constant_s) == (0.3, 0.2)
    angles = [math.degrees(s.angle_rad) for s in world.sensors]
    assert angles == pytest.approx([25.0, 0.0, -25.0])
    # The same arena and start as the reference robot's: only the robot differs.
    assert world.pose == build_world(SimConfig(gpio=None)).pose


def test_latency_delays_the_duties_by_whole_steps() -> None:
    clock = WorldClock(build_world(SimConfig(gpio=None, seed=3)))
    clock.before_step.append(lambda: clock.world.set_duties(0.5, -0.5))
    delay_duties(clock, 2)
    got = []
    clock.after_step.append(lambda: got.append(clock.world.wheel_speeds_rad_s))
    for _ in range(3):
        clock.advance(0.05)
    assert got[0] == (0.0, 0.0) and got[1] == (0.0, 0.0) and got[2][0] > 0 > got[2][1]
    assert clock.latency_ticks == 2


def test_a_bad_key_is_one_config_error(tmp_path: Path) -> None:
    path = example(tmp_path, "reference_sim.toml", ("seed = 0 ", "latency_ticks = -1\nseed = 0 "))
    with pytest.raises(ConfigError, match="latency_ticks"):
        load_config(path)


def test_the_calibration_truth_reports_the_hidden_robot(tmp_path: Path) -> None:
    path = example(
        tmp_path,
        "reference_sim.toml",
        ("seed = 0 ", "left_gain = 0.7\nlatency_ticks = 2\nside_ranger_deg = 30\nseed = 0 "),
        ("/obstacle_bundle", "/no_such_bundle"),
    )
    text = path.read_text() + "\n[calibration]\nduties = [0.5]\npivot_duties = [0.5]\n"
    path.write_text(text)
    result = run_calibration(load_config(path), tmp_path / "c.jsonl")
    assert result.outcome == "complete", result.detail
    robot = result.sim["robot"]
    assert robot["left_gain"] == 0.7 and robot["right_gain"] == 1.0
    assert robot["latency_ticks"] == 2 and robot["side_ranger_deg"] == pytest.approx(30.0)
    assert robot["dead_band"] == DriveParams().dead_band
