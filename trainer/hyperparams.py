"""Hyperparameters: one typed dataclass per algorithm, a docstring per field.

Values come from three layers, later ones winning: the dataclass defaults, the env's entry in
``trainer/presets.toml`` (``["CartPole-v1".dqn]``), and ``--set key=value`` on the command line
(converted to the field's type; an unknown key or a bad value raises ``HyperparameterError``).
A preset may also carry the env's keyword arguments in a sub-table (``["ID".dqn.env]``,
``preset_env_kwargs``); ``--env-arg`` overrides them key by key.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.errors import HyperparameterError

PRESETS_FILE = Path(__file__).with_name("presets.toml")
#: A preset's sub-table of env keyword arguments: ``["sim2pi/ObstacleAvoid-v0".dqn.env]``.
ENV_TABLE = "env"
ALGOS = ("dqn", "qlearning")


@dataclass
class DQNConfig:
    """DQN (Double DQN by default) with a target network, replay buffer and vector envs."""

    total_steps: int = 50_000
    """env steps to train for, summed over the vector envs"""
    n_envs: int = 8
    """envs stepped together (gymnasium.vector.SyncVectorEnv)"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """units of each hidden Dense layer of the MLP"""
    activation: str = "relu"
    """activation of the hidden layers (any Keras activation name)"""
    learning_rate: float = 1e-3
    """Adam learning rate at step 0"""
    learning_rate_final: float = 1e-3
    """learning rate at the last step (linear annealing; equal to learning_rate = constant)"""
    gamma: float = 0.99
    """discount factor"""
    buffer_size: int = 50_000
    """replay buffer capacity, transitions"""
    batch_size: int = 64
    """transitions per gradient step"""
    learning_starts: int = 1_000
    """env steps of pure exploration before the first gradient step"""
    train_freq: int = 16
    """env steps between training rounds"""
    gradient_steps: int = 4
    """gradient steps per training round (run in one compiled TensorFlow call)"""
    tau: float = 0.005
    """target network Polyak rate per target update (1.0 = hard copy)"""
    target_update_interval: int = 1
    """gradient steps between target network updates"""
    n_step: int = 1
    """rewards summed over n env steps before bootstrapping (1 = one-step DQN)"""
    double_dqn: bool = True
    """pick the next action with the online net, value it with the target net"""
    huber_delta: float = 1.0
    """Huber loss threshold between quadratic and linear, in return units"""
    max_grad_norm: float = 10.0
    """clip the global gradient norm to this"""
    eps_start: float = 1.0
    """exploration ε at step 0"""
    eps_end: float = 0.05
    """exploration ε after the schedule"""
    eps_fraction: float = 0.2
    """fraction of total_steps over which ε falls linearly from eps_start to eps_end"""
    eval_every: int = 2_000
    """env steps between greedy evaluations (0 = only at the end)"""
    eval_episodes: int = 10
    """episodes per periodic greedy evaluation, on fixed seeds"""
    final_eval_episodes: int = 10
    """episodes of the final greedy evaluation of the best and last checkpoints"""
    confirm_episodes: int = 20
    """episodes on other seeds that an evaluation which beats the best must also play; the
    checkpoint's score is the mean over both (0 = the periodic evaluation alone decides)"""
    stop_on_solved: bool = False
    """end training at the first evaluation after the ε schedule whose confirmed score reaches
    the env's solved return (Gymnasium's reward_threshold, e.g. CartPole-v1 475): the final
    checkpoint is then a solved policy, not whatever the last update left"""
    checkpoint_every: int = 10_000
    """env steps between saves of the last checkpoint (it is also saved at the end and on Ctrl-C)"""
    jit_compile: bool = True
    """compile the train step with XLA (several times faster on small MLPs)"""


@dataclass
class QLearningConfig:
    """Tabular Q-learning, on a discretiser's grid for continuous observations."""

    total_steps: int = 200_000
    """env steps to train for"""
    learning_rate: float = 0.5
    """step size α at step 0"""
    learning_rate_final: float = 0.05
    """step size α after the schedule"""
    lr_fraction: float = 1.0
    """fraction of total_steps over which α falls linearly"""
    gamma: float = 0.99
    """discount factor"""
    eps_start: float = 1.0
    """exploration ε at step 0"""
    eps_end: float = 0.05
    """exploration ε after the schedule"""
    eps_fraction: float = 0.5
    """fraction of total_steps over which ε falls linearly"""
    initial_q: float = 0.0
    """initial value of every Q-table entry (optimism explores)"""
    bins: tuple[int, ...] = ()
    """bins per observation channel for continuous envs (empty: Discrete observation space)"""
    bins_low: tuple[float, ...] = ()
    """lower edge of the binned range per channel, raw units (empty: the spec's low)"""
    bins_high: tuple[float, ...] = ()
    """upper edge of the binned range per channel, raw units (empty: the spec's high)"""
    eval_every: int = 20_000
    """env steps between greedy evaluations (0 = only at the end)"""
    eval_episodes: int = 100
    """episodes per periodic greedy evaluation, on fixed seeds"""
    final_eval_episodes: int = 100
    """episodes of the final greedy evaluation of the best and last checkpoints"""
    confirm_episodes: int = 100
    """episodes on other seeds that an evaluation which beats the best must also play; the
    checkpoint's score is the mean over both (0 = the periodic evaluation alone decides)"""
    stop_on_solved: bool = False
    """end training at the first evaluation after the ε schedule whose confirmed score reaches
    the env's solved return (Gymnasium's reward_threshold)"""
    checkpoint_every: int = 50_000
    """env steps between saves of the last checkpoint (also saved at the end and on Ctrl-C)"""


CONFIG_CLASSES: dict[str, type[DQNConfig] | type[QLearningConfig]] = {
    "dqn": DQNConfig,
    "qlearning": QLearningConfig,
}


def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string literal right below it in the class body)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for stmt, after in itertools.pairwise(body):
        if (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
        ):
            docs[stmt.target.id] = str(after.value.value)
    return docs


def load_presets(path: Path = PRESETS_FILE) -> dict[str, Any]:
    """The preset file as a dict ``{env_id: {algo: {key: value}}}``; no file means no presets."""
    if not path.is_file():
        return {}
    with open(path, "rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise HyperparameterError(f"{path}: not valid TOML ({exc})") from None


def preset_for(env_id: str, algo: str, path: Path = PRESETS_FILE) -> dict[str, Any]:
    """The preset's hyperparameters for ``env_id`` and ``algo`` (empty when there is none)."""
    entry = load_presets(path).get(env_id, {})
    return {key: value for key, value in entry.get(algo, {}).items() if key != ENV_TABLE}


def preset_env_kwargs(env_id: str, algo: str, path: Path = PRESETS_FILE) -> dict[str, Any]:
    """The env keyword arguments of the preset for ``env_id`` and ``algo`` (its ``env`` table).

    Empty when there is none; ``HyperparameterError`` when ``env`` is not a table. The values are
    the env's to check (``trainer.gymenv.make_checked_env``).
    """
    table = load_presets(path).get(env_id, {}).get(algo, {}).get(ENV_TABLE, {})
    if not isinstance(table, dict):
        raise HyperparameterError(
            f"{path.name} [{env_id!r}.{algo}]: {ENV_TABLE} must be a table of the env's keyword "
            f'arguments (["{env_id}".{algo}.{ENV_TABLE}]), found {table!r}'
        )
    return dict(table)


def build_config(
    algo: str,
    env_id: str,
    overrides: list[str] | None = None,
    presets_path: Path = PRESETS_FILE,
) -> DQNConfig | QLearningConfig:
    """Defaults ← preset for (env_id, algo) ← ``key=value`` overrides, type-checked."""
    if algo not in CONFIG_CLASSES:
        raise HyperparameterError(f"--algo: expected one of {ALGOS}, found {algo!r}")
    cls = CONFIG_CLASSES[algo]
    values: dict[str, Any] = {}
    for key, value in preset_for(env_id, algo, presets_path).items():
        values[key] = convert(cls, key, value, f"{presets_path.name} [{env_id!r}.{algo}]")
    for item in overrides or []:
        key, sep, text = item.partition("=")
        if not sep:
            raise HyperparameterError(f"--set {item!r}: expected key=value, e.g. --set gamma=0.98")
        values[key.strip()] = convert(cls, key.strip(), text.strip(), "--set")
    config = cls(**values)
    validate(config)
    return config


#: (lowest, highest) allowed value of numeric fields; None = unbounded on that side.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "total_steps": (1, None),
    "n_envs": (1, None),
    "n_step": (1, None),
    "learning_rate": (0, None),
    "learning_rate_final": (0, None),
    "lr_fraction": (0, 1),
    "gamma": (0, 1),
    "buffer_size": (1, None),
    "batch_size": (1, None),
    "learning_starts": (0, None),
    "train_freq": (1, None),
    "gradient_steps": (1, None),
    "tau": (0, 1),
    "target_update_interval": (1, None),
    "huber_delta": (0, None),
    "max_grad_norm": (0, None),
    "eps_start": (0, 1),
    "eps_end": (0, 1),
    "eps_fraction": (0, 1),
    "eval_every": (0, None),
    "eval_episodes": (1, None),
    "final_eval_episodes": (1, None),
    "confirm_episodes": (0, None),
    "checkpoint_every": (0, None),
}


def validate(config: DQNConfig | QLearningConfig) -> None:
    """Raise ``HyperparameterError`` for a value outside its field's range."""
    for key, (low, high) in _RANGES.items():
        if not hasattr(config, key):
            continue
        value = getattr(config, key)
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"[{low}, {'∞' if high is None else high}]"
            raise HyperparameterError(f"{key}={value!r}: expected a value in {bounds}")
    sizes = getattr(config, "hidden_sizes", (1,))
    if not sizes or min(sizes) < 1:
        raise HyperparameterError(f"hidden_sizes={sizes!r}: expected one or more positive sizes")


def convert(cls: type, key: str, value: Any, where: str) -> Any:
    """``value`` (a string from the CLI or a TOML value) as the type of field ``key`` of ``cls``."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if key not in fields:
        raise HyperparameterError(
            f"{where}: unknown hyperparameter {key!r} for {cls.__name__}; "
            f"known: {', '.join(sorted(fields))}"
        )
    hint = typing.get_type_hints(cls)[key]
    try:
        return _as_type(hint, value)
    except (TypeError, ValueError):
        raise HyperparameterError(
            f"{where}: {key}={value!r} is not a valid {_type_name(hint)}"
        ) from None


def _as_type(hint: Any, value: Any) -> Any:
    """Convert ``value`` to ``hint`` (bool, int, float, str, or tuple[X, ...])."""
    if typing.get_origin(hint) is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        if isinstance(value, str):
            parts = [p for p in value.replace(" ", "").split(",") if p]
        elif isinstance(value, list | tuple):
            parts = list(value)
        else:
            raise TypeError(value)
        return tuple(_as_type(item, p) for p in parts)
    convert = _CONVERTERS.get(hint)
    if convert is None:
        raise TypeError(f"unsupported hyperparameter type {hint}")
    return convert(value)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.lower() in ("true", "1", "yes")
    raise ValueError(value)


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        number = float(value.replace("_", ""))
        if number.is_integer():
            return int(number)
    raise ValueError(value)


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


_CONVERTERS: dict[Any, Any] = {bool: _as_bool, int: _as_int, float: _as_float, str: str}


def _type_name(hint: Any) -> str:
    """A readable name of a field type, with an example for tuples."""
    if typing.get_origin(hint) is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        return f"comma-separated list of {item.__name__} (e.g. 64,64)"
    if isinstance(hint, types.GenericAlias):
        return str(hint)
    return getattr(hint, "__name__", str(hint))


def to_dict(config: DQNConfig | QLearningConfig) -> dict[str, Any]:
    """The config as a JSON-ready dict (tuples become lists)."""
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()
    }


def from_dict(algo: str, data: dict[str, Any]) -> DQNConfig | QLearningConfig:
    """Rebuild a config saved by ``to_dict``."""
    cls = CONFIG_CLASSES[algo]
    return cls(**{k: convert(cls, k, v, "config.json") for k, v in data.items()})
