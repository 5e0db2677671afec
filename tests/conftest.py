"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest

from shared.spec import (
    Action,
    ActionTable,
    Channel,
    MotorCommand,
    ObservationSpec,
    RewardSpec,
    RewardTerm,
    TaskSpec,
)


@pytest.fixture
def robot_spec() -> TaskSpec:
    """A small robot spec: three range channels and three motor actions."""
    return TaskSpec(
        env_id="sim2pi/ObstacleAvoid-v0",
        observation=ObservationSpec(
            (
                Channel("left_distance_m", "m", 0.02, 2.0),
                Channel("front_distance_m", "m", 0.02, 2.0),
                Channel("right_distance_m", "m", 0.02, 2.0),
            )
        ),
        actions=ActionTable(
            (
                Action("forward", MotorCommand(0.8, 0.8)),
                Action("spin_left", MotorCommand(-0.6, 0.6)),
                Action("spin_right", MotorCommand(0.6, -0.6)),
            )
        ),
        reward=RewardSpec(
            "terms",
            (
                RewardTerm("forward_progress", 1.0),
                RewardTerm("collision", -10.0),
                RewardTerm("proximity", -0.5, {"threshold_m": 0.3}),
            ),
        ),
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the tests that need a TFLite runtime where none exists for the platform.

    That is 32-bit ARM with Python 3.12+ (32-bit Pi OS Trixie): no runtime publishes wheels for
    it, so there the robot runs Q-table policies only (``install_hint`` says so). Everywhere
    else a missing runtime is a broken install, and these tests fail as they should. A test
    needs a runtime when it is marked ``tflite`` or is parametrised with a TFLite policy.
    """
    from robot.inference.tflite_runtimes import install_hint, runtime_exists

    if runtime_exists():
        return
    skip = pytest.mark.skip(reason=install_hint().split(":")[0])
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        policies = [v for v in params.values() if isinstance(v, str) and v.startswith("tflite")]
        if item.get_closest_marker("tflite") or policies:
            item.add_marker(skip)
