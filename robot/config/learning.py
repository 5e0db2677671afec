"""``[learning]``: on-robot Q-learning, every default and range stated once, beside its field."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from robot.config.rules import Problem, Rule, is_number
from robot.config.section import (
    Section,
    file_path,
    flag,
    integer,
    not_above,
    number,
    ruled,
)
from robot.config.toml_table import Table, describe


class MotorSteps(Rule):
    """``[[left duty, right duty, duration_s], ...]``: duties in [-1, 1], durations 0..10 s."""

    toml_type = list
    fix = "write each step as three numbers, e.g. [-0.5, -0.5, 0.6]"

    def read(self, table: Table, key: str, default: Any, base: Path) -> Any:
        """The array as written (checked on construction)."""
        return table.get(key, list, default, fix=self.fix)

    def check(self, key: str, value: Any, owner: Any) -> Problem | None:
        """A problem unless every step is three numbers in range."""
        if not isinstance(value, list | tuple):
            return Problem(key, f"expected an array, found {describe(value)}", self.fix)
        for index, step in enumerate(value):
            numbers = (
                isinstance(step, list | tuple)
                and len(step) == 3
                and all(is_number(v) and math.isfinite(v) for v in step)
            )
            if not numbers:
                problem = f"step {index}: expected [left duty, right duty, duration_s]"
                return Problem(key, f"{problem}, found {step!r}", self.fix)
            left, right, duration_s = step
            if not (-1.0 <= left <= 1.0 and -1.0 <= right <= 1.0 and 0.0 <= duration_s <= 10.0):
                problem = f"step {index}: expected duties in -1..1 and a duration in 0..10 s"
                fix = "choose duties between -1 and 1 and a duration between 0 and 10 s"
                return Problem(key, f"{problem}, found {step!r}", fix)
        return None

    def normalise(self, value: Any) -> tuple[tuple[float, float, float], ...]:
        """A tuple of (left, right, duration_s) float triples."""
        return tuple((float(a), float(b), float(c)) for a, b, c in value)


@dataclass(frozen=True)
class LearningConfig(Section):
    """On-robot Q-learning: the learner's whole tuning, validated here and nowhere else."""

    toml_path: ClassVar[str] = "learning"
    enabled: bool = flag(False)
    epsilon_start: float = number(0.2, low=0.0, high=1.0)
    epsilon_floor: float = number(0.02, low=0.0, high=1.0)
    #: Multiplied into epsilon after every update (0 would end exploration at once).
    epsilon_decay: float = number(0.999, low=0.0, high=1.0, above=True)
    alpha: float = number(0.1, low=1e-6, high=1.0)
    #: The trainer's discount (its DQN and Q-learning default): the bundle's Q-values are on
    #: that scale, and another gamma would first have to rescale every value.
    gamma: float = number(0.99, low=0.0, high=1.0)
    #: The share of each TD correction applied to every action of the state, not only the one
    #: taken (0: plain Q-learning). Keeps the bundle's preferences until experience changes them.
    state_share: float = number(0.5, low=0.0, high=0.999)
    #: lambda of Watkins's Q(lambda): each TD error also corrects the (state, action) pairs
    #: before it, by their eligibility trace (x gamma*lambda per tick back; cut at an exploratory
    #: action and at each collision). 0: one-step Q-learning (the default: on the benchmark's
    #: 10 seeds 0.9 did better on average only through one seed; median per seed: no better).
    trace_lambda: float = number(0.0, low=0.0, high=0.999)
    #: The TD error of a tick without a collision is clipped to +-huber_delta before it moves a
    #: value (the gradient of the Huber loss the trainer's DQN minimises, huber_delta 1.0 there);
    #: a collision's is never clipped. 0: nothing is clipped.
    huber_delta: float = number(1.0, low=0.0, high=1e6)
    #: Save a snapshot every this many updates (and at exit).
    save_every: int = integer(500, low=1, high=10_000_000)
    #: Snapshots kept in ``state_dir``.
    keep: int = integer(3, low=1, high=1000)
    #: Exploration never drives forward while any range is below this (metres).
    shield_distance_m: float = number(0.25, low=0.0, high=4.0, unit="m")
    #: While learning, no choice (greedy ones too) drives forward while any range is below this
    #: (metres): the best-valued action that does not is driven, and learnt from. 0: off.
    shield_greedy_distance_m: float = number(0.2, low=0.0, high=4.0, unit="m")
    state_dir: Path = file_path(Path("learning"))
    #: alpha = max(alpha_floor, alpha / (1 + visits) ** alpha_omega) per (state, action).
    alpha_omega: float = number(0.5, low=0.0, high=10.0)
    alpha_floor: float = number(0.05, low=0.0, high=1.0)
    #: A range below this (metres) ends an episode as a collision, like the bumper. An HC-SR04
    #: reads >= 0.02 m and the front one reads ~0.02 m at contact; at 0.05 m noisy readings
    #: ended episodes without a contact (benchmark: range noise 0.03 m).
    collision_distance_m: float = number(0.03, low=0.0, high=1.0, unit="m")
    #: Episodes per rollback window; a window this far (return) below the best rolls back,
    #: and epsilon is multiplied by rollback_epsilon_factor.
    rollback_window: int = integer(10, low=1, high=10_000)
    #: An episode (collision to collision) returns hundreds on the reference reward; a drop of
    #: 5 rolled back on noise every few episodes.
    rollback_drop: float = number(100.0, low=0.0, high=1e9)
    rollback_epsilon_factor: float = number(0.5, low=0.0, high=1.0)
    #: The recovery manoeuvre after a collision: (left duty, right duty, duration_s) steps,
    #: duties in [-1, 1], durations 0..10 s.
    recovery: tuple[tuple[float, float, float], ...] = ruled(
        MotorSteps(), ((0.0, 0.0, 0.3), (-0.5, -0.5, 0.6), (-0.6, 0.6, 0.5))
    )

    def cross_checks(self) -> Iterable[Problem | None]:
        """The floors stay below what they floor."""
        return (
            not_above(self, "alpha_floor", "alpha"),
            not_above(self, "epsilon_floor", "epsilon_start"),
        )
