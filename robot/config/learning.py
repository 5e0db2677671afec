"""``[learning]``: on-robot Q-learning, every default and range stated once, beside its field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from robot.config.rules import Problem
from robot.config.section import Section, file_path, flag, integer, not_above, number


@dataclass(frozen=True)
class LearningConfig(Section):
    """On-robot Q-learning: the learner's whole tuning, validated here and nowhere else."""

    toml_path: ClassVar[str] = "learning"
    #: Keys that moved to ``[supervisor]``, which acts in every mode, not only while learning.
    moved_keys: ClassVar[dict[str, str]] = {
        "collision_distance_m": "supervisor.collision_distance_m",
        "shield_greedy_distance_m": "supervisor.shield_distance_m",
        "recovery": "supervisor.recovery",
    }
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
    #: Exploration never drives forward while any range is below this (metres). (Every choice,
    #: greedy ones too, is shielded by ``[supervisor] shield_distance_m``.)
    shield_distance_m: float = number(0.25, low=0.0, high=4.0, unit="m")
    state_dir: Path = file_path(Path("learning"))
    #: alpha = max(alpha_floor, alpha / (1 + visits) ** alpha_omega) per (state, action).
    alpha_omega: float = number(0.5, low=0.0, high=10.0)
    alpha_floor: float = number(0.05, low=0.0, high=1.0)
    #: Episodes per rollback window; a window this far (return) below the best rolls back,
    #: and epsilon is multiplied by rollback_epsilon_factor.
    rollback_window: int = integer(10, low=1, high=10_000)
    #: An episode (collision to collision) returns hundreds on the reference reward; a drop of
    #: 5 rolled back on noise every few episodes.
    rollback_drop: float = number(100.0, low=0.0, high=1e9)
    rollback_epsilon_factor: float = number(0.5, low=0.0, high=1.0)

    def cross_checks(self) -> Iterable[Problem | None]:
        """The floors stay below what they floor."""
        return (
            not_above(self, "alpha_floor", "alpha"),
            not_above(self, "epsilon_floor", "epsilon_start"),
        )


#: How to fix a [learning] state_dir the run cannot use (any message about it ends with this).
STATE_DIR_FIX = (
    "point [learning] state_dir at a directory this user can write (left at its default, the "
    "service writes under $STATE_DIRECTORY instead)"
)
