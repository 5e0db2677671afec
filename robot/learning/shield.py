"""The safety shields: no driving forward near an obstacle while the learner explores or learns.

- The exploration shield: an exploratory choice never drives forward (left + right duty > 0)
  while any range is below ``shield_distance_m``; such a draw is redrawn among the actions that
  do not.
- The greedy shield: with ``shield_greedy_distance_m`` > 0 no choice, greedy ones included,
  drives forward while a range is below that; the best-valued action that does not is driven
  instead (and learnt from). A learner that has not yet learnt where its new preferences are
  unsafe otherwise drives them into obstacles while it learns.

Without any action that does not drive forward, neither shield ever acts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shared.spec import MotorCommand


class Shield:
    """Which actions drive forward, the nearest range, and what each shield leaves."""

    def __init__(
        self,
        commands: Sequence[MotorCommand],
        channel_units: Sequence[str],
        *,
        distance_m: float,
        greedy_distance_m: float,
    ) -> None:
        """``commands[i]`` is action ``i``'s drive; ranges are the channels whose unit is ``m``."""
        self.distance_m = distance_m
        self.greedy_distance_m = greedy_distance_m
        self._forward = np.array([c.left + c.right > 0.0 for c in commands])
        #: The actions that do not drive forward: what a shield leaves (none: it never acts).
        self.turns = np.flatnonzero(~self._forward)
        self._metre = [i for i, unit in enumerate(channel_units) if unit == "m"]

    def nearest_m(self, raw_observation: np.ndarray) -> float:
        """The nearest range a metre channel reads (inf without any)."""
        return min((float(raw_observation[i]) for i in self._metre), default=np.inf)

    def forbids(self, action: int, nearest_m: float, distance_m: float) -> bool:
        """Whether a shield at ``distance_m`` forbids ``action`` (driving forward) here."""
        return nearest_m < distance_m and bool(self._forward[action])

    def redrawn(
        self, action: int, nearest_m: float, rng: np.random.Generator, fallback: int
    ) -> int | None:
        """The exploration shield: None if ``action`` may be explored here, else its stand-in.

        The stand-in is drawn from ``rng`` among the actions that do not drive forward, or is
        ``fallback`` (the greedy action) when there are none.
        """
        if not self.forbids(action, nearest_m, self.distance_m):
            return None
        return int(rng.choice(self.turns)) if self.turns.size else fallback

    def overridden(self, action: int, nearest_m: float, q_values: np.ndarray) -> int | None:
        """The greedy shield: the best-valued action that does not drive forward, or None."""
        if not self.turns.size or not self.forbids(action, nearest_m, self.greedy_distance_m):
            return None
        return int(self.turns[q_values[self.turns].argmax()])
