"""The gym backend's env: made as ``eval-bundle`` makes it, its spaces checked against the bundle.

``make_sil_env`` makes ``[hardware.gym] env_id`` with the keyword arguments ``EnvKwargs.of``
gives (the bundle's training run's, with ``[hardware.gym] env_kwargs`` laid over them), so
software in the loop plays the world the bundle was trained and evaluated in. ``check_spaces``
refuses an env the bundle's actions cannot drive, or channels outside its observation.
Each failure is one line (ConfigError or SpecMismatchError; exit 2 in ``run`` and ``check``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from robot.config import EnvKwargs, GymConfig
from robot.errors import ConfigError, SpecMismatchError
from shared.spec import TaskSpec
from trainer.errors import UsageError
from trainer.gymenv import make_checked_env


def make_sil_env(config: GymConfig, env_kwargs: EnvKwargs) -> gym.Env[Any, Any]:
    """``config.env_id`` made with ``env_kwargs``; ConfigError (one line) if it cannot be."""
    try:
        env = gym.make(config.env_id)  # "module:Id" imports the module, which registers Id
    except Exception as exc:  # gymnasium raises many kinds for a bad id
        raise ConfigError(
            f"[hardware.gym.env_id] cannot make {config.env_id!r}: {exc}; give a registered "
            "id, or 'module:EnvId' to import its module first"
        ) from None
    if not env_kwargs.values:
        return env
    env.close()
    env_id = config.env_id.rpartition(":")[2]
    source = "[hardware.gym] env_kwargs" if env_kwargs.configured else "env kwargs"
    values = dict(env_kwargs.values)
    try:
        return make_checked_env(env_id, values, source)
    except UsageError as exc:
        raise ConfigError(f"{exc}{_origin(env_kwargs)}") from None
    except Exception as exc:  # an env may raise anything from its constructor
        shown = json.dumps(values, default=str)
        raise ConfigError(
            f"{source} {shown}: {env_id} refused them ({type(exc).__name__}: {exc})"
            f"{_origin(env_kwargs)}"
        ) from None


def _origin(env_kwargs: EnvKwargs) -> str:
    """Where the arguments came from, for an error (none when all are the config's)."""
    if env_kwargs.configured:
        return ""
    trained, configured = EnvKwargs.TRAINED, EnvKwargs.CONFIGURED
    by_source: dict[str, dict[str, Any]] = {trained: {}, configured: {}}
    for key, value in env_kwargs.values.items():
        by_source[env_kwargs.sources[key]][key] = value
    said = f" ({trained} recorded {json.dumps(by_source[trained], default=str)}"
    if by_source[configured]:
        said += f", {configured} sets {json.dumps(by_source[configured], default=str)}"
    return f"{said}; {configured} overrides a key)"


def check_spaces(
    config: GymConfig, env: gym.Env[Any, Any], spec: TaskSpec, indices: Sequence[int]
) -> bool:
    """Whether the env's actions are Discrete (else a Box of two duties); raise if the
    bundle's actions cannot drive them or a channel is outside the observation."""
    env_id, space, n = config.env_id, env.action_space, len(spec.actions)
    by_index = any(action.motor is None for action in spec.actions)
    names = list(spec.actions.names)
    if isinstance(space, gym.spaces.Discrete):
        if int(space.n) != n:
            raise SpecMismatchError(
                f"[hardware.gym] {env_id}: expected an action space of the bundle's {n} "
                f"actions {names}, found Discrete({space.n}); name the env the bundle was "
                "trained on"
            )
    elif by_index:
        raise SpecMismatchError(
            f"[hardware.gym] {env_id}: the bundle's actions {names} have no motor commands, "
            f"so they drive a Discrete({n}) env by index, found {space}; name the env the "
            "bundle was trained on"
        )
    elif not (isinstance(space, gym.spaces.Box) and space.shape == (2,)):
        raise SpecMismatchError(
            f"[hardware.gym] {env_id}: expected Discrete({n}) or a Box of two duties, found "
            f"action space {space}; name an env the robot's motor commands can drive"
        )
    shape = env.observation_space.shape
    size = int(np.prod(shape)) if shape else 0
    if indices and max(indices) >= size:
        raise ConfigError(
            f"[hardware.gym.channels] expected indices into the env's observation of shape "
            f"{shape}, found {max(indices)}; map each channel to an index below {size}"
        )
    return isinstance(space, gym.spaces.Discrete)
