"""The shield: no driving forward near an obstacle.

A choice that drives forward (left + right duty > 0) while any range (a channel whose unit is
``m``) reads below a distance is replaced. The supervisor shields every choice, greedy ones
included, at ``[supervisor] shield_distance_m``: the best-valued action that does not drive
forward is driven instead. The on-robot learner also redraws an exploratory choice that would
drive forward below ``[learning] shield_distance_m`` (and learns from what is driven).

Without any action that does not drive forward, the shield never acts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from shared.spec import MotorCommand


class Shield:
    """Which actions drive forward, the nearest range, and what the shield leaves."""

    def __init__(self, commands: Sequence[MotorCommand], channel_units: Sequence[str]) -> None:
        """``commands[i]`` is action ``i``'s drive; ranges are the channels whose unit is ``m``."""
        self._forward = [c.left + c.right > 0.0 for c in commands]
        #: The actions that do not drive forward: what a shield leaves (none: it never acts).
        self.turns = np.flatnonzero(~np.array(self._forward, dtype=bool))
        #: The indices of the range channels (unit ``m``).
        self.ranges = [i for i, unit in enumerate(channel_units) if unit == "m"]

    def nearest_m(self, values: Sequence[float]) -> float:
        """The nearest range among ``values`` (the spec's order; inf without any range)."""
        nearest = math.inf  # a plain loop: this runs every tick, and a generator costs more
        for i in self.ranges:
            value = values[i]
            nearest = value if value < nearest else nearest  # cheaper than min() per tick
        return float(nearest)

    def forbids(self, action: int, nearest_m: float, distance_m: float) -> bool:
        """Whether a shield at ``distance_m`` forbids ``action`` (driving forward) here."""
        return nearest_m < distance_m and self._forward[action]

    def redrawn(
        self,
        action: int,
        nearest_m: float,
        distance_m: float,
        rng: np.random.Generator,
        fallback: int,
    ) -> int | None:
        """The exploration shield: None if ``action`` may be explored here, else its stand-in.

        The stand-in is drawn from ``rng`` among the actions that do not drive forward, or is
        ``fallback`` (the greedy action) when there are none.
        """
        if not self.forbids(action, nearest_m, distance_m):
            return None
        return int(rng.choice(self.turns)) if self.turns.size else fallback

    def overridden(
        self, action: int, nearest_m: float, distance_m: float, q_values: np.ndarray
    ) -> int | None:
        """The best-valued action that does not drive forward, if ``action`` is forbidden."""
        if not self.turns.size or not self.forbids(action, nearest_m, distance_m):
            return None
        return int(self.turns[np.asarray(q_values)[self.turns].argmax()])
