"""sim2pi/ObstacleAvoid-v0's robot arguments: ``motor_gain`` and ``side_ranger_deg``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from test_obstacle_avoid_env import RANDOMISED as ENV_RANDOMISED

from shared.world import (
    REFERENCE_SENSOR_ANGLE_RAD,
    REFERENCE_SENSOR_MOUNT_M,
    UltrasonicSensor,
    reference_sensors,
)
from trainer.envs.obstacle_avoid import SIDE_RANGER_DEG, ObstacleAvoidEnv

pytestmark = pytest.mark.trainer

#: test_obstacle_avoid_env's randomised arguments, on the reference arena.
RANDOMISED = {k: v for k, v in ENV_RANDOMISED.items() if not k.startswith(("arena_", "obstacles_"))}


def _trajectory(env: ObstacleAvoidEnv, seed: int, steps: int) -> list[tuple]:
    """(obs bytes, reward, terminated, truncated) per step under a seeded random policy."""
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out: list[tuple] = [(obs.tobytes(),)]
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(int(rng.integers(5)))
        out.append((obs.tobytes(), reward, terminated, truncated))
        if terminated or truncated:
            obs, _ = env.reset()
            out.append((obs.tobytes(),))
    return out


def _by_name(env: ObstacleAvoidEnv) -> dict[str, UltrasonicSensor]:
    assert env.world is not None
    return {sensor.name: sensor for sensor in env.world.sensors}


def test_the_default_side_angle_is_the_reference_robots() -> None:
    assert math.radians(SIDE_RANGER_DEG) == REFERENCE_SENSOR_ANGLE_RAD


def test_side_rangers_turn_on_the_same_mount_circle_and_the_front_stays() -> None:
    env = ObstacleAvoidEnv(side_ranger_deg=25.0)
    env.reset(seed=3)
    sensors = _by_name(env)
    reference = {sensor.name: sensor for sensor in reference_sensors()}
    assert sensors["front"] == reference["front"]
    for name, sign in (("left", 1.0), ("right", -1.0)):
        sensor = sensors[name]
        assert sensor.angle_rad == pytest.approx(sign * math.radians(25.0), abs=1e-12)
        assert math.hypot(sensor.x_m, sensor.y_m) == pytest.approx(REFERENCE_SENSOR_MOUNT_M)
        assert math.atan2(sensor.y_m, sensor.x_m) == pytest.approx(sensor.angle_rad)
        # Only the pose on the robot changes: the ranger's physics stays the reference one.
        assert sensor.max_range_m == reference[name].max_range_m
        assert sensor.beam_half_angle_rad == reference[name].beam_half_angle_rad


def test_turned_side_rangers_see_what_lies_at_their_angle() -> None:
    """The readings follow the rangers: the side readings change, the front one does not."""
    default, turned = ObstacleAvoidEnv(), ObstacleAvoidEnv(side_ranger_deg=25.0)
    same_front, different_sides = 0, 0
    for seed in range(5):
        a, _ = default.reset(seed=seed)
        b, _ = turned.reset(seed=seed)  # the same layout and pose: the draws are the same
        same_front += a[1] == b[1]
        different_sides += a[0] != b[0] or a[2] != b[2]
    assert same_front == 5
    assert different_sides >= 4


def test_motor_gain_scales_both_motors_after_the_spread_draw() -> None:
    for seed in range(3):
        plain = ObstacleAvoidEnv(motor_gain_spread=0.2)
        slow = ObstacleAvoidEnv(motor_gain_spread=0.2, motor_gain=0.6)
        plain.reset(seed=seed)
        slow.reset(seed=seed)
        assert plain.world is not None and slow.world is not None
        assert slow.world.drive.left_gain == pytest.approx(0.6 * plain.world.drive.left_gain)
        assert slow.world.drive.right_gain == pytest.approx(0.6 * plain.world.drive.right_gain)
        assert slow.world.drive.dead_band == plain.world.drive.dead_band
    fixed = ObstacleAvoidEnv(motor_gain=0.6)
    fixed.reset(seed=0)
    assert fixed.world is not None
    assert (fixed.world.drive.left_gain, fixed.world.drive.right_gain) == (0.6, 0.6)


def test_a_lower_motor_gain_drives_slower() -> None:
    speeds = {}
    for gain in (1.0, 0.6):
        env = ObstacleAvoidEnv(motor_gain=gain, obstacles=0, arena_size_m=10.0)
        env.reset(seed=1)
        for _ in range(40):  # 2 s of forward: past the motors' lag
            _, _, terminated, _, info = env.step(0)
            assert not terminated
        speeds[gain] = info["speed_m_s"]
    assert speeds[0.6] == pytest.approx(0.6 * speeds[1.0], rel=0.1)


@pytest.mark.parametrize("kwargs", [{}, RANDOMISED])
def test_defaults_leave_the_env_as_it_was(kwargs: dict) -> None:
    """No new draws and no other robot: the reference sensors, gains from the spread alone."""
    default = ObstacleAvoidEnv(**kwargs)
    explicit = ObstacleAvoidEnv(**kwargs, motor_gain=1.0, side_ranger_deg=45.0)
    assert _trajectory(default, 7, 300) == _trajectory(explicit, 7, 300)
    default.reset(seed=2)
    assert default.world is not None
    noise, dropout = kwargs.get("sensor_noise_m", 0.0), kwargs.get("dropout_prob", 0.0)
    assert default.world.sensors == reference_sensors(noise, dropout)
    if not kwargs:
        assert (default.world.drive.left_gain, default.world.drive.right_gain) == (1.0, 1.0)


def test_the_shifted_robot_passes_check_env_and_is_deterministic_per_seed() -> None:
    shifted = {"motor_gain": 0.6, "side_ranger_deg": 25.0, **RANDOMISED}
    check_env(ObstacleAvoidEnv(**shifted), skip_render_check=True)
    first = _trajectory(ObstacleAvoidEnv(**shifted), 5, 200)
    assert _trajectory(ObstacleAvoidEnv(**shifted), 5, 200) == first


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"motor_gain": 0.0}, r"motor_gain: expected in \(0, 2\], found 0.0"),
        ({"motor_gain": 2.5}, r"motor_gain: expected in \(0, 2\], found 2.5"),
        ({"side_ranger_deg": 0}, r"side_ranger_deg: expected in \(0, 90\] degrees .*found 0"),
        ({"side_ranger_deg": 91.0}, r"side_ranger_deg: .*found 91.0"),
    ],
)
def test_bad_robot_arguments_are_refused_with_the_value(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ObstacleAvoidEnv(**kwargs)
