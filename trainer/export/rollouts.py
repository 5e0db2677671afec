"""States the trained policy actually visits: greedy rollouts on fixed, dedicated seeds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from trainer.evaluation import EVAL_SEED_BASE

#: Rollout episode i starts from ``env.reset(seed=ROLLOUT_SEED_BASE + i)``: past the eval seeds.
ROLLOUT_SEED_BASE = EVAL_SEED_BASE + 500_000


def greedy_states(
    env: Any, act: Callable[[Any], int], n_states: int, seed_base: int = ROLLOUT_SEED_BASE
) -> tuple[np.ndarray, int]:
    """At least ``n_states`` raw observations (N, n_channels) from greedy episodes, and the
    number of episodes run; the last episode is cut at ``n_states`` so the count is exact.

    Args:
        env: a Gymnasium env of the run's id.
        act: ``act(raw_obs) -> action index``, the run's greedy policy.
        n_states: how many states to collect.
        seed_base: reset seed of the first episode; episode i uses ``seed_base + i``.
    """
    if n_states < 1:
        raise ValueError(f"n_states: expected a positive count, found {n_states}")
    states: list[np.ndarray] = []
    episodes = 0
    while len(states) < n_states:
        obs, _ = env.reset(seed=seed_base + episodes)
        episodes += 1
        done = False
        while not done and len(states) < n_states:
            states.append(np.atleast_1d(np.asarray(obs, dtype=np.float32)))
            obs, _, terminated, truncated, _ = env.step(act(obs))
            done = terminated or truncated
    return np.stack(states), episodes
