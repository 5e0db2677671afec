"""The drive as a ``Decider``: the plan's command at each time, and every way it ends (each
ends through the loop's ``request_stop`` and drives a stop on that tick)."""

from __future__ import annotations

import numpy as np

from robot.calibration.drive import CalibrationDrive
from robot.calibration.plan import Step

PLAN = (Step("still", 0.0, 0.0, 1.0), Step("spin_left_0.50", -0.5, 0.5, 2.0))
CLEAR = np.array([1.0, 1.5, 2.0], dtype=np.float32)


def _drive(max_duration_s: float = 60.0) -> tuple[CalibrationDrive, list[str]]:
    ended: list[str] = []
    drive = CalibrationDrive(PLAN, [0, 1, 2], stop_distance_m=0.15, max_duration_s=max_duration_s)
    drive.attach(ended.append)
    return drive, ended


def _command(drive: CalibrationDrive, observation: np.ndarray, now_s: float) -> tuple:
    choice = drive.decide(observation, False, now_s)
    assert choice.decision is None  # no action of a table: the loop drives the command
    return choice.command.left, choice.command.right


def test_the_plan_on_the_loops_clock_then_a_stop_and_the_end() -> None:
    drive, ended = _drive()
    assert _command(drive, CLEAR, 100.0) == (0.0, 0.0)  # time 0 is the first decision
    assert drive.telemetry_fields() == {"command": [0.0, 0.0], "calibration_step": "still"}
    assert _command(drive, CLEAR, 101.0) == (-0.5, 0.5)
    assert drive.telemetry_fields() == {
        "command": [-0.5, 0.5],
        "calibration_step": "spin_left_0.50",
    }
    assert drive.telemetry_fields()["command"] is None  # not asked since: null
    assert ended == []
    assert _command(drive, CLEAR, 103.0) == (0.0, 0.0)
    assert ended == ["complete"] and drive.outcome == "complete"
    assert _command(drive, CLEAR, 103.05) == (0.0, 0.0)  # ended: only stops from now on


def test_a_range_under_the_pivots_reach_ends_the_drive_on_that_tick() -> None:
    drive, ended = _drive()
    _command(drive, CLEAR, 0.0)
    assert _command(drive, np.array([1.0, 0.1, 2.0], dtype=np.float32), 1.5) == (0.0, 0.0)
    assert ended == ["too_close"] and "0.100 m" in drive.detail


def test_max_duration_ends_the_drive() -> None:
    drive, ended = _drive(max_duration_s=2.0)
    _command(drive, CLEAR, 0.0)
    assert _command(drive, CLEAR, 1.99) == (-0.5, 0.5)
    assert _command(drive, CLEAR, 2.0) == (0.0, 0.0)
    assert ended == ["max_duration"]


def test_a_supervisor_takeover_ends_the_drive() -> None:
    drive, ended = _drive()
    _command(drive, CLEAR, 0.0)
    drive.interrupted(CLEAR, "contact")
    assert ended == ["contact"] and drive.outcome == "contact"
    assert drive.telemetry_fields()["command"] is None
    assert drive.summary() is None
