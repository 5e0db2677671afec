"""The reward of a spec's ``terms``, from what a robot knows: its ranges, its command, a bump.

The simulator computes its training reward with this module and a robot learning on board
computes the very same reward from its real sensors, so it takes nothing a robot could not know:
the raw observation (each channel in its own unit, ordered as the spec says), the motor command
it sent, and whether it collided (bump switch, or the simulator's contact).

Each term is a number per control tick; the reward is ``Σ weight × term``:

- ``forward_progress`` = (left + right) / 2, the commanded forward duty in [-1, 1]: ahead is
  rewarded, reversing is not. (The robot has no wheel encoders, so the command stands for speed.)
- ``collision`` = 1 if the robot collided during the tick, else 0 (give it a negative weight).
- ``turning`` = |left - right| / 2 in [0, 1]: how hard the command turns (negative weight: no
  needless spinning).
- ``proximity`` = max(0, 1 - d / threshold_m) in [0, 1], where d is the smallest of the
  observation's channels measured in metres (unit ``"m"``); zero beyond ``threshold_m``, one
  at contact (negative weight: keep a margin). Parameter ``threshold_m`` > 0 is required.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from shared.errors import SpecError
from shared.spec import MotorCommand, TaskSpec

#: Each known term and the parameters it takes (all required).
TERM_PARAMS: Mapping[str, tuple[str, ...]] = {
    "forward_progress": (),
    "collision": (),
    "turning": (),
    "proximity": ("threshold_m",),
}
KNOWN_TERMS = tuple(TERM_PARAMS)
#: Terms that need each action to carry a motor command.
_MOTOR_TERMS = ("forward_progress", "turning")


@dataclass(frozen=True)
class Reward:
    """One tick's reward: the total and each term's weighted contribution (they sum to it)."""

    total: float
    terms: Mapping[str, float]


class RewardFunction:
    """Computes a ``TaskSpec``'s ``terms`` reward; the spec is checked once, here."""

    def __init__(self, spec: TaskSpec) -> None:
        reward = spec.reward
        if reward.source != "terms":
            raise SpecError(
                f"reward spec of {spec.env_id!r}: source is {reward.source!r}, which only the env "
                "itself can compute; use source 'terms' to compute rewards from observations"
            )
        for term in reward.terms:
            if term.name not in TERM_PARAMS:
                raise SpecError(
                    f"reward spec of {spec.env_id!r}: unknown term {term.name!r}; "
                    f"known terms are {KNOWN_TERMS}"
                )
            expected = set(TERM_PARAMS[term.name])
            if set(term.params) != expected:
                raise SpecError(
                    f"reward term {term.name!r}: expected params {sorted(expected)}, "
                    f"found {sorted(term.params)}"
                )
            if term.name in _MOTOR_TERMS and spec.actions[0].motor is None:
                raise SpecError(
                    f"reward term {term.name!r} needs motor commands, but the actions of "
                    f"{spec.env_id!r} have none; drop the term or give each action a motor"
                )
        self._terms = tuple((t.name, t.weight, dict(t.params)) for t in reward.terms)
        self._size = spec.observation.size
        self._names = spec.observation.names
        self._metre_channels = [
            i for i, channel in enumerate(spec.observation.channels) if channel.unit == "m"
        ]
        for name, _, params in self._terms:
            if name != "proximity":
                continue
            if not params["threshold_m"] > 0:
                raise SpecError(
                    f"reward term 'proximity': threshold_m must be > 0, "
                    f"found {params['threshold_m']!r}"
                )
            if not self._metre_channels:
                raise SpecError(
                    "reward term 'proximity' needs at least one observation channel in metres "
                    f"(unit 'm'); the channels are {self._names}"
                )

    @property
    def term_names(self) -> tuple[str, ...]:
        """The spec's term names, in order."""
        return tuple(name for name, _, _ in self._terms)

    def __call__(
        self, raw_observation: np.ndarray, command: MotorCommand | None, collided: bool
    ) -> Reward:
        """The reward of one tick: raw observation (channel units), the command sent, a bump."""
        observation = np.asarray(raw_observation, dtype=np.float64)
        if observation.shape != (self._size,):
            raise SpecError(
                f"reward: expected a raw observation of {self._size} channels {self._names}, "
                f"found shape {observation.shape}"
            )
        contributions = {}
        for name, weight, params in self._terms:
            contributions[name] = weight * self._term(name, params, observation, command, collided)
        return Reward(total=float(sum(contributions.values())), terms=contributions)

    def _term(
        self,
        name: str,
        params: Mapping[str, float],
        observation: np.ndarray,
        command: MotorCommand | None,
        collided: bool,
    ) -> float:
        """The unweighted value of term ``name`` (formulas in the module docstring)."""
        if name == "collision":
            return 1.0 if collided else 0.0
        if name == "proximity":
            nearest_m = float(np.min(observation[self._metre_channels]))
            return max(0.0, 1.0 - nearest_m / params["threshold_m"])
        if command is None:
            raise SpecError(f"reward term {name!r}: needs the motor command, found None")
        if name == "forward_progress":
            return (command.left + command.right) / 2.0
        return abs(command.left - command.right) / 2.0  # turning


def compute_reward(
    spec: TaskSpec, raw_observation: np.ndarray, command: MotorCommand | None, collided: bool
) -> Reward:
    """One tick's reward under ``spec`` (builds a ``RewardFunction``; keep one for a loop)."""
    return RewardFunction(spec)(raw_observation, command, collided)
