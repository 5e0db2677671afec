"""The gym backend: a Gymnasium env as the world behind the hardware interface (laptop only)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from robot.clock import SimulatedClock  # noqa: E402
from robot.config import GymConfig, LoopConfig  # noqa: E402
from robot.errors import HardwareError  # noqa: E402
from robot.hardware.gym_world import GymHardware  # noqa: E402
from robot.loop import ControlLoop  # noqa: E402
from robot.policy import load_policy  # noqa: E402
from shared.bundle import Bundle  # noqa: E402
from shared.spec import MotorCommand  # noqa: E402

pytestmark = pytest.mark.trainer

MAPPING = (("left_distance_m", 0), ("front_distance_m", 1), ("right_distance_m", 2))


class Corridor(gym.Env):
    """A wall ahead that comes closer while driving forward; spinning turns it away."""

    def __init__(self, continuous: bool = False, nan_after: int | None = None) -> None:
        self.observation_space = gym.spaces.Box(0.0, 4.0, shape=(4,), dtype=np.float32)
        self.action_space = (
            gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
            if continuous
            else gym.spaces.Discrete(5)
        )
        self.nan_after = nan_after
        self.actions: list[Any] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.front = 1.5
        return self._obs(), {}

    def _obs(self) -> np.ndarray:
        obs = np.array([1.5, self.front, 1.5, 0.0], dtype=np.float32)
        if self.nan_after is not None and len(self.actions) >= self.nan_after:
            obs[1] = np.nan
        return obs

    def step(self, action: Any):
        self.actions.append(action)
        forward = action == 0 if np.ndim(action) == 0 else float(np.mean(action)) > 0.5
        self.front = max(0.05, self.front - 0.1) if forward else 1.5
        return self._obs(), 1.0, False, len(self.actions) % 50 == 0, {}


gym.register("sim2pi-test/Corridor-v0", entry_point=Corridor)


def make(bundle: Bundle, **kwargs: Any) -> tuple[GymHardware, SimulatedClock]:
    clock = SimulatedClock()
    env_id = "sim2pi-test/Corridor-v0"
    if kwargs:
        env_id = "sim2pi-test/Corridor" + "".join(f"-{k}{v}" for k, v in kwargs.items()) + "-v0"
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=Corridor, kwargs=kwargs)
    return GymHardware(GymConfig(env_id, MAPPING, seed=1), bundle.spec, clock=clock.now), clock


def test_the_policy_avoids_the_wall_in_the_env(bundle: Bundle) -> None:
    hardware, clock = make(bundle)
    with hardware:
        loop = ControlLoop(
            hardware, load_policy(bundle, "tflite"), bundle.spec, LoopConfig(), clock=clock
        )
        summary = loop.run(max_ticks=60)
        env = hardware.env.unwrapped
        assert summary["decisions"] == 60 == hardware.steps
        assert 0 in env.actions and any(a in (3, 4) for a in env.actions)  # forward, then spins
        assert hardware.episodes == 1  # truncated at 50 steps and reset
    hardware.close()


def test_invalid_observations_stop_the_world(bundle: Bundle) -> None:
    hardware, clock = make(bundle, nan_after=5)
    with hardware:
        loop = ControlLoop(
            hardware, load_policy(bundle, "qtable"), bundle.spec, LoopConfig(), clock=clock
        )
        summary = loop.run(max_ticks=20)
    assert summary["decisions"] == 5
    assert summary["stops"]["invalid"] == {"events": 1, "ticks": 15}


def test_a_box_action_space_gets_the_duties(bundle: Bundle) -> None:
    hardware, _ = make(bundle, continuous=True)
    with hardware:
        hardware.drive(MotorCommand(-0.6, 0.6))
        np.testing.assert_allclose(hardware.env.unwrapped.actions[-1], [-0.6, 0.6])


def test_mismatched_action_space_is_refused(bundle: Bundle) -> None:
    with pytest.raises(
        HardwareError, match=r"action space Discrete\(2\), but the bundle has 5 actions"
    ):
        GymHardware(GymConfig("CartPole-v1", MAPPING), bundle.spec, clock=lambda: 0.0)


def test_unknown_env_id_says_how_to_name_one(bundle: Bundle) -> None:
    with pytest.raises(HardwareError, match="cannot make 'nope/Nothing-v0'"):
        GymHardware(GymConfig("nope/Nothing-v0", MAPPING), bundle.spec, clock=lambda: 0.0)
