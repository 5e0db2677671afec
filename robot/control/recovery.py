"""The recovery manoeuvre: motor commands held for set times (stop, back off, turn), by the
control clock. Each step that turns can be mirrored, so the robot turns away from the nearer side.
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
        self._remaining: list[MotorCommand] = []
        #: When the last manoeuvre ends (control clock, s); -inf before the first.
        self.ends_s = float("-inf")

    @property
    def active(self) -> bool:
        """Whether a step of the manoeuvre is still to be driven."""
        return bool(self._remaining)

    def start(self, now_s: float, *, mirrored: bool = False, on_the_spot: bool = False) -> None:
        """Begin the manoeuvre at ``now_s``; ``mirrored``: left and right duties swapped;
        ``on_the_spot``: without the steps that drive backwards (left + right duty < 0), unless
        every step does."""
        steps = self.steps
        if on_the_spot:
            steps = tuple(s for s in steps if s.command.left + s.command.right >= 0.0) or steps
        ends, t = [], now_s
        for step in steps:
            t += step.duration_s
            ends.append(t)
        self._ends_s = ends
        self.ends_s = t
        self._remaining = [
            MotorCommand(s.command.right, s.command.left) if mirrored else s.command for s in steps
        ]

    def cancel(self) -> None:
        """Drop what is left of the manoeuvre."""
        self._ends_s, self._remaining = [], []

    def due(self, now_s: float) -> MotorCommand | None:
        """The command of the step due at ``now_s``; None once the manoeuvre is over."""
        while self._ends_s and now_s >= self._ends_s[0]:
            self._ends_s.pop(0)
            self._remaining.pop(0)
        if not self._remaining:
            return None
        return self._remaining[0]
