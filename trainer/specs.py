"""The ``TaskSpec`` of any Gymnasium env the trainer supports: observation bounds, action names.

The network's input is ``spec.observation.normalize(raw_obs)``, so every env needs finite channel
bounds. Sources, in order:

1. the unwrapped env's ``task_spec`` attribute (sim2pi's robot simulator);
2. the table below for classic-control envs whose Gymnasium bounds are infinite or unnamed.
   CartPole-v1's velocities are unbounded in Gymnasium; we choose ±3 m/s for the cart and
   ±3.5 rad/s for the pole, which a balancing policy never leaves (values outside extrapolate,
   they are not clipped, so the choice only sets the input scale);
3. ``Discrete`` observation spaces (FrozenLake, Taxi): one channel ``state``, unit ``index``,
   normalisation ``none``;
4. ``Box`` spaces with finite bounds: the space's bounds, channels ``obs_0 … obs_{n-1}``.

Anything else raises ``SpaceError`` telling the user to add bounds to ``KNOWN_OBSERVATIONS``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from shared.spec import Action, ActionTable, Channel, ObservationSpec, RewardSpec, TaskSpec
from trainer.errors import SpaceError

#: (name, unit, low, high) per channel, for envs whose Gymnasium bounds are unusable or unnamed.
KNOWN_OBSERVATIONS: dict[str, tuple[tuple[str, str, float, float], ...]] = {
    "CartPole-v1": (
        ("cart_position_m", "m", -4.8, 4.8),  # Gymnasium's bound; the episode ends at ±2.4 m
        ("cart_velocity_m_s", "m/s", -3.0, 3.0),  # unbounded in Gymnasium; chosen
        ("pole_angle_rad", "rad", -0.418, 0.418),  # Gymnasium's bound; the episode ends at ±12°
        ("pole_angular_velocity_rad_s", "rad/s", -3.5, 3.5),  # unbounded in Gymnasium; chosen
    ),
    "Acrobot-v1": (
        ("cos_theta1", "1", -1.0, 1.0),
        ("sin_theta1", "1", -1.0, 1.0),
        ("cos_theta2", "1", -1.0, 1.0),
        ("sin_theta2", "1", -1.0, 1.0),
        ("theta1_dot_rad_s", "rad/s", -4 * np.pi, 4 * np.pi),
        ("theta2_dot_rad_s", "rad/s", -9 * np.pi, 9 * np.pi),
    ),
    "MountainCar-v0": (
        ("car_position", "1", -1.2, 0.6),
        ("car_velocity", "1/step", -0.07, 0.07),
    ),
}

#: Action names of well-known envs; others get ``action_0 … action_{n-1}``.
KNOWN_ACTIONS: dict[str, tuple[str, ...]] = {
    "CartPole-v1": ("push_left", "push_right"),
    "Acrobot-v1": ("torque_minus_1", "torque_0", "torque_plus_1"),
    "MountainCar-v0": ("accelerate_left", "no_accelerate", "accelerate_right"),
    "FrozenLake-v1": ("left", "down", "right", "up"),
    "Taxi-v3": ("south", "north", "east", "west", "pickup", "dropoff"),
    "Taxi-v4": ("south", "north", "east", "west", "pickup", "dropoff"),  # Gymnasium >= 1.3
}


def task_spec_for(env_id: str, env: gym.Env[Any, Any]) -> TaskSpec:
    """The task spec of ``env`` (made from ``env_id``): observation channels, actions, reward."""
    own = getattr(env.unwrapped, "task_spec", None)
    if isinstance(own, TaskSpec):
        return own
    action_space = env.action_space
    if not isinstance(action_space, gym.spaces.Discrete):
        raise SpaceError(
            f"{env_id}: expected a Discrete action space, found {action_space}; "
            "DQN and Q-learning choose among discrete actions"
        )
    n_actions = int(action_space.n)
    names = KNOWN_ACTIONS.get(env_id, tuple(f"action_{i}" for i in range(n_actions)))
    if len(names) != n_actions:
        names = tuple(f"action_{i}" for i in range(n_actions))
    actions = ActionTable(tuple(Action(name) for name in names))
    return TaskSpec(env_id, _observation_spec(env_id, env.observation_space), actions, RewardSpec())


def _observation_spec(env_id: str, space: gym.Space[Any]) -> ObservationSpec:
    """Observation channels of a known env, a Discrete space, or a finite Box."""
    if env_id in KNOWN_OBSERVATIONS:
        channels = tuple(Channel(*row) for row in KNOWN_OBSERVATIONS[env_id])
        if isinstance(space, gym.spaces.Box) and space.shape == (len(channels),):
            return ObservationSpec(channels)
    if isinstance(space, gym.spaces.Discrete):
        high = float(space.start + space.n - 1)
        low = float(space.start)
        return ObservationSpec((Channel("state", "index", low, max(high, low + 1), "none"),))
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        lows, highs = space.low.astype(np.float64), space.high.astype(np.float64)
        if np.all(np.isfinite(lows)) and np.all(np.isfinite(highs)):
            return ObservationSpec(
                tuple(
                    Channel(f"obs_{i}", "1", float(lo), float(hi))
                    for i, (lo, hi) in enumerate(zip(lows, highs, strict=True))
                )
            )
        raise SpaceError(
            f"{env_id}: observation bounds are not finite (low={lows.tolist()}, "
            f"high={highs.tolist()}); add finite bounds for it to KNOWN_OBSERVATIONS "
            "in trainer/specs.py"
        )
    raise SpaceError(
        f"{env_id}: expected a Discrete or 1-D Box observation space, found {space}; "
        "wrap the env to flatten its observations"
    )
