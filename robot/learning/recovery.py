"""The recovery manoeuvre after a collision: motor commands held for set times, not learnt from.

A collision ends an episode; the learner then drives the configured steps (by default stop, back
off, turn on the spot) one after the other, by the control clock, before the next episode starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.spec import MotorCommand


@dataclass(frozen=True)
class RecoveryStep:
    """One step of the recovery manoeuvre: a motor command held for ``duration_s`` seconds."""

    command: MotorCommand
    duration_s: float


def recovery_from(steps: Sequence[tuple[float, float, float]]) -> tuple[RecoveryStep, ...]:
    """Recovery steps from (left duty, right duty, duration_s) triples (as a config lists them)."""
    return tuple(RecoveryStep(MotorCommand(left, right), dur) for left, right, dur in steps)


class Recovery:
    """The manoeuvre under way: which step is due at a given time, and when it is over."""

    def __init__(self, steps: Sequence[RecoveryStep]) -> None:
        """``steps`` run in order, each for its ``duration_s``, from each ``start``."""
        self.steps = tuple(steps)
        self._ends_s: list[float] = []  # end times of the remaining steps (control clock, s)
        self._remaining: list[RecoveryStep] = []

    @property
    def active(self) -> bool:
        """Whether a step of the manoeuvre is still to be driven."""
        return bool(self._remaining)

    def start(self, now_s: float) -> None:
        """Begin the manoeuvre at ``now_s`` (a collision was just seen)."""
        ends, t = [], now_s
        for step in self.steps:
            t += step.duration_s
            ends.append(t)
        self._ends_s = ends
        self._remaining = list(self.steps)

    def due(self, now_s: float) -> MotorCommand | None:
        """The command of the step due at ``now_s``; None once the manoeuvre is over."""
        while self._ends_s and now_s >= self._ends_s[0]:
            self._ends_s.pop(0)
            self._remaining.pop(0)
        if not self._remaining:
            return None
        return self._remaining[0].command
