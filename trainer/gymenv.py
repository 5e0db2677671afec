"""Making Gymnasium envs for training and evaluation, with clear errors for unusable ones."""

from __future__ import annotations

import contextlib
import difflib
import functools
import inspect
import json
from typing import Any

import gymnasium as gym

from trainer.errors import SpaceError, UnknownEnvError, UsageError

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


def _accepted_keywords(env_id: str) -> dict[str, inspect.Parameter] | None:
    """The env constructor's keyword parameters; None when it takes ``**kwargs`` (or hides them)."""
    from gymnasium.envs.registration import load_env_creator

    entry_point = gym.registry[env_id].entry_point
    creator = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
    try:
        parameters = inspect.signature(creator).parameters
    except (TypeError, ValueError):  # no signature to read (a builtin): let the env decide
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    return {
        name: p
        for name, p in parameters.items()
        if p.kind in {inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD}
    }


def _expected(parameter: inspect.Parameter | None) -> str:
    """What a keyword expects, from its annotation and default, for error messages."""
    if parameter is None:
        return "a value the env accepts"
    annotation = parameter.annotation
    kind = "any value" if annotation is inspect.Parameter.empty else str(annotation)
    if parameter.default is inspect.Parameter.empty:
        return kind
    return f"{kind} (default {parameter.default!r})"


def make_checked_env(
    env_id: str, env_kwargs: dict[str, Any], source: str = "--env-arg"
) -> gym.Env[Any, Any]:
    """``make_env(env_id, **env_kwargs)``; a ``UsageError`` naming ``source`` if it refuses.

    An unknown keyword lists the env's keywords; a value the env rejects names the keyword, what
    it expects and what was found. ``source`` says where the arguments came from (``--env-arg``,
    or a preset's env table).
    """
    if not env_kwargs:
        return make_env(env_id)
    make_env(env_id).close()  # an unknown env id fails here, with its own message
    accepted = _accepted_keywords(env_id)
    if accepted is not None:
        unknown = sorted(set(env_kwargs) - set(accepted))
        if unknown:
            raise UsageError(
                f"{source} {unknown[0]}=...: {env_id} has no keyword {unknown[0]!r}; "
                f"it accepts: {', '.join(accepted)}"
            )
    try:
        return make_env(env_id, **env_kwargs)
    except (TypeError, ValueError) as exc:
        culprit = None
        for key, value in env_kwargs.items():  # which one: build the env with each alone
            try:
                make_env(env_id, **{key: value}).close()
            except (TypeError, ValueError):
                culprit = key
                break
        if culprit is None:
            raise UsageError(
                f"{source}: {env_id} refused {env_kwargs} together ({exc}); "
                "check that the arguments are consistent with each other"
            ) from exc
        parameter = accepted.get(culprit) if accepted is not None else None
        raise UsageError(
            f"{source} {culprit}={json.dumps(env_kwargs[culprit], default=str)}: {env_id} "
            f"refused it "
            f"({exc}); expected {_expected(parameter)}, found {env_kwargs[culprit]!r}"
        ) from exc
