"""sim2pi/ObstacleAvoid-v0's arguments for a fitted robot: ``left_motor_gain``,
``right_motor_gain`` (times ``motor_gain``) and ``motor_time_constant_s``."""

from __future__ import annotations

import pytest

from shared.world import MOTOR_TIME_CONSTANT_S
from trainer.envs.obstacle_avoid import ObstacleAvoidEnv

pytestmark = pytest.mark.trainer


def _drive(**kwargs: float) -> object:
    env = ObstacleAvoidEnv(**kwargs)
    env.reset(seed=5)
    assert env.world is not None
    return env.world.drive


def test_the_defaults_are_the_reference_robot() -> None:
    drive = _drive()
    assert (drive.left_gain, drive.right_gain) == (1.0, 1.0)
    assert drive.time_constant_s == MOTOR_TIME_CONSTANT_S


def test_each_motors_gain_reaches_the_world_times_motor_gain() -> None:
    drive = _drive(motor_gain=0.5, left_motor_gain=0.8, right_motor_gain=1.2)
    assert drive.left_gain == pytest.approx(0.4)
    assert drive.right_gain == pytest.approx(0.6)


def test_the_time_constant_reaches_the_world() -> None:
    assert _drive(motor_time_constant_s=0.25).time_constant_s == 0.25


def test_the_new_arguments_leave_the_episode_stream_unchanged() -> None:
    # Same seed, same layout and start: only the drive differs.
    a, b = ObstacleAvoidEnv(), ObstacleAvoidEnv(left_motor_gain=0.7, motor_time_constant_s=0.3)
    obs_a, info_a = a.reset(seed=11)
    obs_b, info_b = b.reset(seed=11)
    assert (obs_a == obs_b).all() and info_a["pose"] == info_b["pose"]
    for _ in range(10):
        a.step(0)
        b.step(0)
    assert a.unwrapped.world.pose != b.unwrapped.world.pose


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"left_motor_gain": 0.0}, "left_motor_gain: expected in (0, 2]"),
        ({"right_motor_gain": 2.5}, "right_motor_gain: expected in (0, 2]"),
        ({"motor_time_constant_s": 0.0}, "motor_time_constant_s: expected in [0.01, 2] s"),
        ({"motor_time_constant_s": 3.0}, "motor_time_constant_s: expected in [0.01, 2] s"),
    ],
)
def test_bad_values_are_refused_in_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        ObstacleAvoidEnv(**kwargs)
