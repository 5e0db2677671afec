"""Greedy evaluation on fixed seeds: the same episodes for every checkpoint and every run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

#: Evaluation episode i starts from ``env.reset(seed=EVAL_SEED_BASE + i)``, far from training
#: seeds. These are the seeds every reported figure uses (the run's final evaluation,
#: ``eval-bundle``, software in the loop, the benchmarks); training never selects on them.
EVAL_SEED_BASE = 1_000_000
#: Training's own greedy evaluations (which checkpoint is best, when a run is solved) start from
#: these seeds: periodic evaluations from ``SELECTION_SEED_BASE + i``, the confirmation of a new
#: best from ``CONFIRM_SEED_BASE + i``. Disjoint from the evaluation seeds, so that the figures
#: reported on those measure a choice that was made without them.
SELECTION_SEED_BASE = 2_000_000
CONFIRM_SEED_BASE = 3_000_000
#: A sweep (``python -m trainer sweep``) ranks its trials on episodes from
#: ``RANKING_SEED_BASE + i``: no trial trained, selected or confirmed on them, and the winner is
#: not chosen on the evaluation seeds either, so its reported figures stay a fresh measure.
RANKING_SEED_BASE = 4_000_000
#: A sweep of ``sim2pi/ObstacleAvoid-v0`` ranks its trials on the arena suite
#: (``shared.arena_suite``) instead: episode i of *every* arena starts from
#: ``ARENA_RANKING_SEED_BASE + i`` (the same seeds in each arena, so a plain arena and its rough
#: variant start from the same layouts and poses). Disjoint from all the seeds above and from
#: training's (below 1,000,000: ``trainer.sweep.checks.MAX_SEED``).
ARENA_RANKING_SEED_BASE = 5_000_000


def eval_seeds(episodes: int) -> list[int]:
    """The fixed reset seeds of ``episodes`` evaluation episodes."""
    return [EVAL_SEED_BASE + i for i in range(episodes)]


def selection_seeds(episodes: int) -> list[int]:
    """The reset seeds of training's periodic greedy evaluations."""
    return [SELECTION_SEED_BASE + i for i in range(episodes)]


def confirmation_seeds(episodes: int) -> list[int]:
    """The reset seeds of the second evaluation that a new best checkpoint must pass."""
    return [CONFIRM_SEED_BASE + i for i in range(episodes)]


def ranking_seeds(episodes: int) -> list[int]:
    """The reset seeds on which a sweep ranks its trials."""
    return [RANKING_SEED_BASE + i for i in range(episodes)]


def arena_ranking_seeds(episodes: int) -> list[int]:
    """The reset seeds of a sweep's ranking episodes in each arena of the arena suite."""
    return [ARENA_RANKING_SEED_BASE + i for i in range(episodes)]


@dataclass(frozen=True)
class EvalResult:
    """Returns of greedy episodes and their statistics."""

    returns: tuple[float, ...]
    lengths: tuple[int, ...]

    @property
    def mean(self) -> float:
        """Mean return."""
        return float(np.mean(self.returns))

    def as_dict(self) -> dict[str, float | int]:
        """mean, std, min, max of the returns, and the episode count."""
        r = np.asarray(self.returns)
        return {
            "episodes": len(r),
            "mean": float(r.mean()),
            "std": float(r.std()),
            "min": float(r.min()),
            "max": float(r.max()),
            "mean_length": float(np.mean(self.lengths)),
        }


def evaluate(
    env: gym.Env[Any, Any],
    act: Callable[[Any], int],
    seeds: Sequence[int],
    on_frame: Callable[[np.ndarray], None] | None = None,
) -> EvalResult:
    """Run one greedy episode per seed with ``act(raw_obs) -> action``; collect the returns."""
    returns, lengths = [], []
    for seed in seeds:
        obs, _ = env.reset(seed=int(seed))
        total, length, done = 0.0, 0, False
        if on_frame is not None:
            on_frame(env.render())
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            length += 1
            done = terminated or truncated
            if on_frame is not None:
                on_frame(env.render())
        returns.append(total)
        lengths.append(length)
    return EvalResult(tuple(returns), tuple(lengths))
