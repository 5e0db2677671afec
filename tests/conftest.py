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
