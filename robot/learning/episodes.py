"""Episode bookkeeping: the learner's counters, episode returns and the rollback window.

A collision (bumper, or a metre channel below ``collision_distance_m``) ends an episode. The
returns of the last ``rollback_window`` episodes form a window: a window whose mean return beats
the best so far becomes the best (its table is kept); one that falls ``rollback_drop`` below it
calls for a rollback (the best table's values restored, ε lowered).

The counters span every run (they are saved in the snapshot's meta); ``RunTotals`` are this
run's alone, for the exit summary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

_log = logging.getLogger(__name__)

#: What the end of an episode says about its window (``Stats.end_episode``).
BEST, ROLLBACK = "best", "rollback"
#: Counters of an episode under way: not saved (a restart begins a new episode).
_EPISODE_ONLY = frozenset({"episode_return", "episode_length"})


@dataclass
class Stats:
    """Counters kept in the snapshot's meta, and the episode under way."""

    updates: int = 0
    ticks: int = 0
    episodes: int = 0
    collisions: int = 0
    explored: int = 0
    shielded: int = 0
    overridden: int = 0
    rollbacks: int = 0
    episode_return: float = 0.0
    episode_length: int = 0
    recent_returns: list[float] = field(default_factory=list)
    best_window_return: float | None = None

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Stats:
        """The counters a snapshot's meta saved (zero where it has none); a new episode."""
        names = [f.name for f in fields(cls) if f.name not in _EPISODE_ONLY]
        return cls(**{name: meta[name] for name in names if name in meta})

    def meta(self) -> dict[str, Any]:
        """The counters to save in a snapshot's meta."""
        saved = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _EPISODE_ONLY}
        saved["recent_returns"] = list(self.recent_returns)
        return saved

    def end_episode(self, window: int, drop: float) -> tuple[str | None, float]:
        """Close the episode (a collision): record its return; judge the window when full.

        Returns ``BEST`` (the window's mean return is the best yet, now recorded), ``ROLLBACK``
        (it is more than ``drop`` below the best) or None, and the window's mean (nan if not full).
        """
        self.episodes += 1
        self.collisions += 1
        self.recent_returns.append(self.episode_return)
        self.recent_returns = self.recent_returns[-window:]
        _log.info(
            "episode %d ended by a collision: return %.3f", self.episodes, self.episode_return
        )
        self.episode_return, self.episode_length = 0.0, 0
        if len(self.recent_returns) < window:
            return None, float("nan")
        mean = float(np.mean(self.recent_returns))
        if self.best_window_return is None or mean > self.best_window_return:
            self.best_window_return = mean
            return BEST, mean
        if mean < self.best_window_return - drop:
            return ROLLBACK, mean
        return None, mean

    def rolled_back(self) -> None:
        """Count a rollback; the window starts again."""
        self.rollbacks += 1
        self.recent_returns = []


@dataclass
class RunTotals:
    """This run's updates, summed |TD error| and reward terms (the snapshot's span every run)."""

    updates: int = 0
    abs_td_error: float = 0.0
    #: Each reward term's weighted contribution summed over this run's updates.
    reward_terms: dict[str, float] = field(default_factory=dict)

    def add(self, td_error: float, reward_terms: dict[str, float]) -> None:
        """Count one update."""
        self.updates += 1
        self.abs_td_error += abs(td_error)
        for term, value in reward_terms.items():
            self.reward_terms[term] = self.reward_terms.get(term, 0.0) + value

    def summary(self) -> dict[str, Any]:
        """This run's part of the exit summary (``run_*``; the mean |TD error| None before any)."""
        return {
            "run_updates": self.updates,
            "run_mean_abs_td_error": self.abs_td_error / self.updates if self.updates else None,
            "run_reward": sum(self.reward_terms.values()),
            "run_reward_terms": dict(self.reward_terms),
        }
