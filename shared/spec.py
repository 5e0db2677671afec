"""The task spec: observation channels, action table and reward terms, shared by trainer and robot.

The simulator builds observations and rewards from it during training; the robot builds the very
same observations from sensor readings (and rewards, when it learns on board). A robot's config
maps each channel to a sensor and each action to the drive; it never redefines them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shared.errors import SpecError

#: How a channel's raw value is turned into the network's input.
#: ``minmax`` maps [low, high] linearly onto [-1, 1] (values outside extrapolate, never clip);
#: ``none`` feeds the raw value.
NORMALIZATIONS = ("minmax", "none")

#: Where rewards come from: ``env`` is the environment's own reward (cannot be computed on a
#: robot); ``terms`` is a weighted sum of named terms that ``shared.reward`` computes.
REWARD_SOURCES = ("env", "terms")


def _finite(value: Any, where: str) -> float:
    """Return ``value`` as a float, or raise SpecError if it is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise SpecError(f"{where}: expected a finite number, found {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise SpecError(f"{where}: expected a finite number, found {number!r}; give a finite bound")
    return number


def _name(value: Any, where: str) -> str:
    """Return ``value`` if it is a non-empty string without surrounding blanks."""
    if not isinstance(value, str) or not value or value.strip() != value:
        raise SpecError(f"{where}: expected a non-empty name, found {value!r}")
    return value


def _unique(names: Sequence[str], where: str) -> None:
    """Raise SpecError naming the first duplicate in ``names``."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise SpecError(f"{where}: duplicate name {name!r}; every name must be unique")
        seen.add(name)


@dataclass(frozen=True)
class Channel:
    """One observation channel: a named physical quantity with its unit and expected range."""

    name: str
    unit: str
    low: float
    high: float
    normalization: str = "minmax"

    def __post_init__(self) -> None:
        where = f"channel {self.name!r}"
        _name(self.name, "channel name")
        if not isinstance(self.unit, str):
            raise SpecError(f"{where}: unit must be a string, found {self.unit!r}")
        low = _finite(self.low, f"{where}.low")
        high = _finite(self.high, f"{where}.high")
        if not low < high:
            raise SpecError(f"{where}: expected low < high, found low={low!r}, high={high!r}")
        if self.normalization not in NORMALIZATIONS:
            raise SpecError(
                f"{where}.normalization: expected one of {NORMALIZATIONS}, "
                f"found {self.normalization!r}"
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)


@dataclass(frozen=True)
class ObservationSpec:
    """The ordered observation channels a policy expects, and how its input is normalised."""

    channels: tuple[Channel, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        if not self.channels:
            raise SpecError("observation spec: expected at least one channel, found none")
        _unique([c.name for c in self.channels], "observation spec")
        lows = np.array([c.low for c in self.channels], dtype=np.float64)
        highs = np.array([c.high for c in self.channels], dtype=np.float64)
        scaled = np.array([c.normalization == "minmax" for c in self.channels])
        # normalised = (raw - offset) * gain; identity for "none" channels.
        offset = np.where(scaled, (lows + highs) / 2.0, 0.0)
        gain = np.where(scaled, 2.0 / (highs - lows), 1.0)
        object.__setattr__(self, "_offset", offset.astype(np.float32))
        object.__setattr__(self, "_gain", gain.astype(np.float32))

    @property
    def size(self) -> int:
        """Number of channels."""
        return len(self.channels)

    @property
    def names(self) -> tuple[str, ...]:
        """Channel names, in order."""
        return tuple(c.name for c in self.channels)

    @property
    def lows(self) -> np.ndarray:
        """Lower bounds in each channel's unit."""
        return np.array([c.low for c in self.channels], dtype=np.float64)

    @property
    def highs(self) -> np.ndarray:
        """Upper bounds in each channel's unit."""
        return np.array([c.high for c in self.channels], dtype=np.float64)

    @property
    def offset(self) -> np.ndarray:
        """Per channel, float32: ``normalize(raw) == (raw - offset) * gain`` (0 for "none")."""
        return self._offset.copy()  # type: ignore[attr-defined]

    @property
    def gain(self) -> np.ndarray:
        """Per channel, float32: ``normalize(raw) == (raw - offset) * gain`` (1 for "none")."""
        return self._gain.copy()  # type: ignore[attr-defined]

    def normalize(self, raw: np.ndarray) -> np.ndarray:
        """Raw observation(s) in channel units → the network's float32 input."""
        raw = np.asarray(raw, dtype=np.float32)
        if raw.shape[-1] != self.size:
            raise SpecError(
                f"observation: expected {self.size} channels {self.names}, "
                f"found an array of shape {raw.shape}"
            )
        return (raw - self._offset) * self._gain  # type: ignore[attr-defined]

    def denormalize(self, normalized: np.ndarray) -> np.ndarray:
        """The network's input back to raw channel units."""
        normalized = np.asarray(normalized, dtype=np.float32)
        return normalized / self._gain + self._offset  # type: ignore[attr-defined]


@dataclass(frozen=True)
class MotorCommand:
    """What an action does to a differential drive: PWM duty per side in [-1, 1] (1 = ahead)."""

    left: float
    right: float

    def __post_init__(self) -> None:
        for side in ("left", "right"):
            duty = _finite(getattr(self, side), f"motor.{side}")
            if not -1.0 <= duty <= 1.0:
                raise SpecError(f"motor.{side}: expected a duty in [-1, 1], found {duty!r}")
            object.__setattr__(self, side, duty)


@dataclass(frozen=True)
class Action:
    """One discrete action; ``motor`` is set for robots and None for abstract envs (CartPole)."""

    name: str
    motor: MotorCommand | None = None

    def __post_init__(self) -> None:
        _name(self.name, "action name")


@dataclass(frozen=True)
class ActionTable:
    """The ordered actions; the policy's output index i means ``actions[i]``."""

    actions: tuple[Action, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", tuple(self.actions))
        if not self.actions:
            raise SpecError("action table: expected at least one action, found none")
        _unique([a.name for a in self.actions], "action table")
        has_motor = {a.motor is not None for a in self.actions}
        if len(has_motor) > 1:
            raise SpecError(
                "action table: either every action has a motor command or none does; "
                f"found {[a.name for a in self.actions if a.motor is None]} without one"
            )

    def __len__(self) -> int:
        return len(self.actions)

    def __getitem__(self, index: int) -> Action:
        return self.actions[index]

    @property
    def names(self) -> tuple[str, ...]:
        """Action names, in order."""
        return tuple(a.name for a in self.actions)

    def index(self, name: str) -> int:
        """The index of the action called ``name``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise SpecError(f"action table: no action {name!r}; known: {self.names}") from None


@dataclass(frozen=True)
class RewardTerm:
    """A named reward term, its weight, and the term's parameters (thresholds in SI units)."""

    name: str
    weight: float
    params: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _name(self.name, "reward term name")
        object.__setattr__(self, "weight", _finite(self.weight, f"reward term {self.name!r}"))
        params = {
            _name(k, f"reward term {self.name!r} param"): _finite(
                v, f"reward term {self.name!r}.params.{k}"
            )
            for k, v in dict(self.params).items()
        }
        object.__setattr__(self, "params", params)


@dataclass(frozen=True)
class RewardSpec:
    """Where rewards come from: the env's own (``env``) or a weighted sum of named ``terms``."""

    source: str = "env"
    terms: tuple[RewardTerm, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", tuple(self.terms))
        if self.source not in REWARD_SOURCES:
            raise SpecError(
                f"reward spec.source: expected one of {REWARD_SOURCES}, found {self.source!r}"
            )
        if self.source == "terms" and not self.terms:
            raise SpecError("reward spec: source 'terms' needs at least one term, found none")
        if self.source == "env" and self.terms:
            raise SpecError("reward spec: source 'env' takes no terms; use source 'terms'")
        _unique([t.name for t in self.terms], "reward spec")


@dataclass(frozen=True)
class TaskSpec:
    """Everything a policy expects and means: env id, observation spec, action table, reward."""

    env_id: str
    observation: ObservationSpec
    actions: ActionTable
    reward: RewardSpec = field(default_factory=RewardSpec)

    def __post_init__(self) -> None:
        _name(self.env_id, "env_id")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``TaskSpec.from_dict`` reads it back."""
        return {
            "env_id": self.env_id,
            "observation": {
                "channels": [
                    {
                        "name": c.name,
                        "unit": c.unit,
                        "low": c.low,
                        "high": c.high,
                        "normalization": c.normalization,
                    }
                    for c in self.observation.channels
                ]
            },
            "actions": [
                {
                    "name": a.name,
                    "motor": None
                    if a.motor is None
                    else {"left": a.motor.left, "right": a.motor.right},
                }
                for a in self.actions.actions
            ],
            "reward": {
                "source": self.reward.source,
                "terms": [
                    {"name": t.name, "weight": t.weight, "params": dict(t.params)}
                    for t in self.reward.terms
                ],
            },
        }

    def to_json(self) -> str:
        """The spec as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> TaskSpec:
        """Parse a spec from JSON text."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"spec: not valid JSON ({exc})") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any, where: str = "spec") -> TaskSpec:
        """Build and validate a spec from ``to_dict``'s output; errors name the field path."""
        obj = _mapping(data, where)
        observation = _mapping(_get(obj, "observation", where), f"{where}.observation")
        channels = []
        for i, item in enumerate(
            _list(
                _get(observation, "channels", f"{where}.observation"),
                f"{where}.observation.channels",
            )
        ):
            path = f"{where}.observation.channels[{i}]"
            ch = _mapping(item, path)
            channels.append(
                _build(
                    Channel,
                    path,
                    name=_get(ch, "name", path),
                    unit=_get(ch, "unit", path),
                    low=_get(ch, "low", path),
                    high=_get(ch, "high", path),
                    normalization=ch.get("normalization", "minmax"),
                )
            )
        actions = []
        for i, item in enumerate(_list(_get(obj, "actions", where), f"{where}.actions")):
            path = f"{where}.actions[{i}]"
            act = _mapping(item, path)
            motor_data = act.get("motor")
            motor = None
            if motor_data is not None:
                m = _mapping(motor_data, f"{path}.motor")
                motor = _build(
                    MotorCommand,
                    f"{path}.motor",
                    left=_get(m, "left", f"{path}.motor"),
                    right=_get(m, "right", f"{path}.motor"),
                )
            actions.append(_build(Action, path, name=_get(act, "name", path), motor=motor))
        reward_data = _mapping(obj.get("reward", {"source": "env", "terms": []}), f"{where}.reward")
        terms = []
        for i, item in enumerate(_list(reward_data.get("terms", []), f"{where}.reward.terms")):
            path = f"{where}.reward.terms[{i}]"
            term = _mapping(item, path)
            terms.append(
                _build(
                    RewardTerm,
                    path,
                    name=_get(term, "name", path),
                    weight=_get(term, "weight", path),
                    params=_mapping(term.get("params", {}), f"{path}.params"),
                )
            )
        return _build(
            cls,
            where,
            env_id=_get(obj, "env_id", where),
            observation=_build(ObservationSpec, f"{where}.observation", channels=tuple(channels)),
            actions=_build(ActionTable, f"{where}.actions", actions=tuple(actions)),
            reward=_build(
                RewardSpec,
                f"{where}.reward",
                source=reward_data.get("source", "env"),
                terms=tuple(terms),
            ),
        )


def _build(kind: type, where: str, **kwargs: Any) -> Any:
    """Construct ``kind``; a SpecError gets the field path in front of its message."""
    try:
        return kind(**kwargs)
    except SpecError as exc:
        message = str(exc)
        raise SpecError(message if message.startswith(where) else f"{where}: {message}") from None


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(f"{where}: expected an object, found {type(value).__name__} {value!r}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise SpecError(f"{where}: expected a list, found {type(value).__name__} {value!r}")
    return list(value)


def _get(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise SpecError(f"{where}: missing field {key!r} (found fields {sorted(obj)})")
    return obj[key]
