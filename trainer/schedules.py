"""Linear schedules for ε (exploration) and learning rates, as pure functions of the step."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LinearSchedule:
    """``start`` at step 0, ``end`` from step ``duration`` on, linear in between."""

    start: float
    end: float
    duration: int  # steps; 0 means ``end`` from the first step

    def __call__(self, step: int) -> float:
        """The value at ``step`` (env steps)."""
        if self.duration <= 0 or step >= self.duration:
            return self.end
        fraction = max(step, 0) / self.duration
        return self.start + fraction * (self.end - self.start)

    @classmethod
    def over_fraction(cls, start: float, end: float, fraction: float, total: int) -> LinearSchedule:
        """A schedule that reaches ``end`` after ``fraction`` of ``total`` steps."""
        return cls(start, end, round(fraction * total))
