"""Ranking ``sim2pi/ObstacleAvoid-v0`` trials on the arena suite (``shared.arena_suite``).

A checkpoint plays ``rank_arena_episodes`` greedy episodes in each of the suite's ten arenas,
episode i from seed ``trainer.evaluation.ARENA_RANKING_SEED_BASE + i`` in every arena; its score
is the mean return over all those episodes, and the worst arena's mean is reported beside it.

Each arena's env is the trial's own env kwargs (``config.json``: the preset's env table, the
robot profile's ``[env]``, the setting's ``[[env_args]]``) with the arena laid over them
(``arena_env_kwargs``):

- the layout is the arena's: ``arena_size_m`` and ``obstacles`` fixed to its side and count,
  the trial's ``arena_size_range_m`` and ``obstacles_range`` dropped;
- the *plain* variant's values (ranger noise 0.01 m, no missed echoes, motor gain 1: the ``sim``
  backend's reference robot) are the robot's own unless the trial's env kwargs set
  ``sensor_noise_m``, ``dropout_prob`` or ``motor_gain`` (a robot profile, an ``[[env_args]]``
  table, the preset's env table): then the trial's value is the robot's. The variant's excess
  over plain is the world's and comes on top, as independent effects combine: the rough
  variant's motor gain (0.8 of plain's) multiplies the robot's, its extra ranger noise
  (``sqrt(0.02² - 0.01²)``) adds in quadrature, its missed echoes (5 %) are independent of the
  robot's. A plain arena keeps the robot as it is; the reference robot (none of those keys set)
  gets exactly the suite's values; the robot's other keys (per-side gains, spread, lag, dead
  band, latency, ranger angle) are its own, unchanged;
- everything else (episode length, collision mode, control period) is the trial's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.arena_suite import SUITE, VARIANTS, SuiteArena
from shared.reference_robot import ENV_ID as ARENA_ENV_ID
from trainer.evaluation import arena_ranking_seeds, evaluate

if TYPE_CHECKING:
    from trainer.rundir import RunDir

#: The trial's keywords that the arena's layout replaces.
LAYOUT_KEYS = ("arena_size_m", "obstacles", "arena_size_range_m", "obstacles_range")
#: The reference robot's imperfections: the plain variant's (the ``sim`` backend's defaults).
PLAIN = VARIANTS["plain"]
#: The env's keyword for each imperfection a variant sets, and the variant's field.
IMPERFECTIONS = {
    "sensor_noise_m": "noise_std_m",
    "dropout_prob": "dropout_prob",
    "motor_gain": "motor_gain",
}


def ranks_on_arenas(env_id: str) -> bool:
    """Whether a sweep of ``env_id`` ranks on the arena suite (else on the env's own kwargs)."""
    return env_id == ARENA_ENV_ID


def arena_env_kwargs(base: Mapping[str, Any], arena: SuiteArena) -> dict[str, Any]:
    """The env kwargs of ``arena`` for a trial trained with ``base`` (module docstring)."""
    noise, dropout, gain = (base.get(key, PLAIN[field]) for key, field in IMPERFECTIONS.items())
    extra_noise_sq = arena.noise_std_m**2 - PLAIN["noise_std_m"] ** 2
    kept = {key: value for key, value in base.items() if key not in LAYOUT_KEYS}
    return kept | {
        "arena_size_m": arena.side_m,
        "obstacles": arena.obstacles,
        "sensor_noise_m": _exact(math.sqrt(max(0.0, noise**2 + extra_noise_sq))),
        "dropout_prob": _exact(
            1.0 - (1.0 - dropout) * (1.0 - arena.dropout_prob) / (1.0 - PLAIN["dropout_prob"])
        ),
        "motor_gain": _exact(gain * arena.motor_gain / PLAIN["motor_gain"]),
    }


def _exact(value: float) -> float:
    """``value`` without float round-off (0.05, not 0.050000000000000044): the suite's values
    come out as the suite writes them."""
    return round(value, 12)


@dataclass(frozen=True)
class ArenaScore:
    """One checkpoint's episodes in one arena of the suite."""

    arena: str  # e.g. "3m/11 rough"
    mean: float
    env_kwargs: dict[str, Any]  # what each of its episodes' env was built with
    seeds: tuple[int, ...]
    returns: tuple[float, ...]
    lengths: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (results.json)."""
        return dataclasses.asdict(self)


def score_on_arenas(run: RunDir, which: str, episodes: int) -> list[ArenaScore]:
    """Checkpoint ``which`` of ``run``: ``episodes`` greedy episodes in every arena."""
    from trainer.gymenv import make_env

    base = run.config.get("env_kwargs") or {}
    act = run.greedy_policy(which)
    seeds = arena_ranking_seeds(episodes)
    scores = []
    for arena in SUITE:
        kwargs = arena_env_kwargs(base, arena)
        env = make_env(run.env_id, **kwargs)
        try:
            result = evaluate(env, act, seeds)
        finally:
            env.close()
        scores.append(
            ArenaScore(
                arena.name, result.mean, kwargs, tuple(seeds), result.returns, result.lengths
            )
        )
    return scores


def suite_mean(scores: list[ArenaScore]) -> float:
    """The mean return over every episode of every arena."""
    return float(np.mean([value for score in scores for value in score.returns]))


def worst(scores: list[ArenaScore]) -> ArenaScore:
    """The arena with the lowest mean (the first of equals, in the suite's order)."""
    return min(scores, key=lambda score: score.mean)
