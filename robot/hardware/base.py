"""The one small interface every hardware backend offers: snapshot, drive, stop, close."""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from types import TracebackType

from shared.spec import MotorCommand

STOP = MotorCommand(0.0, 0.0)


@dataclass(frozen=True)
class Snapshot:
    """The newest reading of every observation channel, as the backend holds it right now.

    ``values[i]`` feeds the spec's channel ``i`` in its unit (metres for ranges), NaN when that
    sensor has never given a reading; ``read_at_s[i]`` is when it was measured, on the backend's
    clock (``-inf`` when never). ``faults`` lists conditions that make the whole snapshot
    unusable (a serial link that is down, a microcontroller in its own fail-safe).
    """

    values: tuple[float, ...]
    read_at_s: tuple[float, ...]
    bumper: bool | None = None
    faults: tuple[str, ...] = ()

    def age_s(self, now_s: float) -> float:
        """Age of the oldest channel at ``now_s`` (inf if a channel was never read)."""
        oldest = min(self.read_at_s, default=-math.inf)
        return math.inf if oldest == -math.inf else now_s - oldest


class Hardware(abc.ABC):
    """Sensors in, motors out. ``close()`` stops the motors and may be called twice."""

    #: The backend's name in ``robot.toml`` (``gpio``, ``serial``, ``gym``).
    name: str = ""

    @abc.abstractmethod
    def snapshot(self) -> Snapshot:
        """The newest readings, without blocking on a sensor."""

    @abc.abstractmethod
    def drive(self, command: MotorCommand) -> None:
        """Apply PWM duties in [-1, 1] to the left and right motors."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop both motors now (duty 0)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop the motors and release every device; safe to call twice."""

    def describe(self) -> list[str]:
        """One line per part, for ``robot check``."""
        return [self.name]

    def link_counters(self) -> dict[str, int] | None:
        """The counters of a link to the motors (``serial``), for the exit summary; else None."""
        return None

    def __enter__(self) -> Hardware:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
