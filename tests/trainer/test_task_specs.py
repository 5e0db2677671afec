"""Task specs of Gymnasium envs: finite channel bounds with units, action names, reward source."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from shared.spec import TaskSpec
from trainer.errors import SpaceError
from trainer.gymenv import make_env
from trainer.specs import task_spec_for

pytestmark = pytest.mark.trainer


def test_cartpole_has_finite_named_channels_and_action_names() -> None:
    spec = task_spec_for("CartPole-v1", make_env("CartPole-v1"))
    assert spec.observation.names[1] == "cart_velocity_m_s"
    assert spec.observation.channels[1].unit == "m/s"
    assert np.all(np.isfinite(spec.observation.highs))
    assert spec.actions.names == ("push_left", "push_right")
    assert all(a.motor is None for a in spec.actions.actions)
    assert spec.reward.source == "env"
    assert TaskSpec.from_json(spec.to_json()) == spec


def test_normalised_cartpole_start_states_are_small() -> None:
    env = make_env("CartPole-v1")
    spec = task_spec_for("CartPole-v1", env)
    obs, _ = env.reset(seed=0)
    assert np.all(np.abs(spec.observation.normalize(obs)) < 0.2)


@pytest.mark.parametrize("env_id", ["Acrobot-v1", "MountainCar-v0"])
def test_classic_control_bounds_match_gymnasium(env_id: str) -> None:
    env = make_env(env_id)
    spec = task_spec_for(env_id, env)
    np.testing.assert_allclose(spec.observation.lows, env.observation_space.low, rtol=1e-6)
    np.testing.assert_allclose(spec.observation.highs, env.observation_space.high, rtol=1e-6)


def test_discrete_observation_is_one_unnormalised_index_channel() -> None:
    spec = task_spec_for("FrozenLake-v1", make_env("FrozenLake-v1"))
    (channel,) = spec.observation.channels
    assert (channel.name, channel.unit, channel.normalization) == ("state", "index", "none")
    assert (channel.low, channel.high) == (0.0, 15.0)
    assert spec.actions.names == ("left", "down", "right", "up")


class _BoxEnv(gym.Env[Any, Any]):
    def __init__(self, low: float, high: float, actions: gym.Space[Any]) -> None:
        self.observation_space = gym.spaces.Box(low, high, shape=(2,), dtype=np.float32)
        self.action_space = actions


def test_finite_box_takes_the_space_bounds_and_generic_names() -> None:
    spec = task_spec_for("Box-v0", _BoxEnv(-2.0, 3.0, gym.spaces.Discrete(3)))
    assert spec.observation.names == ("obs_0", "obs_1")
    assert spec.observation.lows.tolist() == [-2.0, -2.0]
    assert spec.actions.names == ("action_0", "action_1", "action_2")


def test_infinite_box_asks_for_bounds() -> None:
    with pytest.raises(SpaceError, match=r"add finite bounds .* trainer/specs\.py"):
        task_spec_for("Inf-v0", _BoxEnv(-np.inf, np.inf, gym.spaces.Discrete(2)))


def test_continuous_actions_are_refused() -> None:
    box = gym.spaces.Box(-1.0, 1.0, shape=(1,))
    with pytest.raises(SpaceError, match="Discrete action space"):
        task_spec_for("Cont-v0", _BoxEnv(-1.0, 1.0, box))


def test_env_with_its_own_task_spec_uses_it(robot_spec: TaskSpec) -> None:
    env = _BoxEnv(0.0, 2.0, gym.spaces.Discrete(3))
    env.task_spec = robot_spec  # type: ignore[attr-defined]
    assert task_spec_for("sim2pi/ObstacleAvoid-v0", env) is robot_spec
