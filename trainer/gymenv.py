"""Making Gymnasium envs for training and evaluation, with clear errors for unusable ones."""

from __future__ import annotations

import contextlib
import difflib
import functools
from typing import Any

import gymnasium as gym

from trainer.errors import SpaceError, UnknownEnvError

with contextlib.suppress(ImportError):  # the robot simulator registers sim2pi/ObstacleAvoid-v0
    import trainer.envs  # noqa: F401


def make_env(env_id: str, **kwargs: Any) -> gym.Env[Any, Any]:
    """``gym.make(env_id, **kwargs)``, raising ``UnknownEnvError`` for an unregistered id."""
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownEnvError(f"--env {env_id!r}: not a registered Gymnasium env id{hint}")
    return gym.make(env_id, **kwargs)


def check_discrete_actions(env_id: str, env: gym.Env[Any, Any], algo: str) -> int:
    """The number of actions, or ``SpaceError`` if the action space is not Discrete."""
    space = env.action_space
    if not isinstance(space, gym.spaces.Discrete):
        raise SpaceError(
            f"--env {env_id}: {algo} needs a Discrete action space, found {space}; "
            "pick an env with discrete actions (e.g. CartPole-v1) or discretise its actions"
        )
    return int(space.n)


def make_vector_env(env_id: str, n_envs: int, **kwargs: Any) -> gym.vector.SyncVectorEnv:
    """``n_envs`` copies stepped together; a finished env resets in the same step.

    With ``SAME_STEP`` autoreset the returned observation of a finished env is the first one of
    its next episode and the last one of the finished episode is in ``info["final_obs"]``.
    """
    make_env(env_id, **kwargs).close()  # fail early with a clear message
    return gym.vector.SyncVectorEnv(
        # partial, not a lambda: the vector env is pickled into resumable checkpoints
        [functools.partial(gym.make, env_id, **kwargs) for _ in range(n_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
