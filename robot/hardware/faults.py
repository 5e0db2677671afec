"""Fault injection for proving the watchdog: a hardware read that hangs, as a stuck driver's would.

``SIM2PI_FAULT_STALL_FILE=/path`` (tests, or a bench check of a real robot's unit) wraps the
backend so that ``snapshot()`` blocks while that file exists, holding the control loop's thread
and nothing else: the process, its other threads and its signal handlers stay alive. The
watchdog pings must stop (they come only from healthy ticks), and under systemd the unit is
killed and restarted after ``WatchdogSec``. Off unless the variable is set; the motors are
stopped before the stall begins, so a robot on the bench does not run on while it lasts.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

from robot.hardware.base import Hardware, Snapshot
from shared.spec import MotorCommand

_log = logging.getLogger(__name__)
STALL_FILE_VARIABLE = "SIM2PI_FAULT_STALL_FILE"
_POLL_S = 0.01


class StallWhileFileExists(Hardware):
    """Delegates to ``inner``; ``snapshot()`` blocks while ``path`` exists."""

    def __init__(self, inner: Hardware, path: Path) -> None:
        """Wrap ``inner``; stall whenever ``path`` exists."""
        self.inner = inner
        self.path = path
        self.name = inner.name
        #: Stalls so far.
        self.stalls = 0

    def snapshot(self) -> Snapshot:
        """The inner snapshot, after waiting (blocking) for the stall file to disappear."""
        if self.path.exists():
            self.stalls += 1
            self.inner.stop()
            _log.warning("fault injection: the loop stalls while %s exists", self.path)
            while self.path.exists():
                time.sleep(_POLL_S)
            _log.warning("fault injection: stall over")
        return self.inner.snapshot()

    def drive(self, command: MotorCommand) -> None:
        """Drive the inner hardware."""
        self.inner.drive(command)

    def stop(self) -> None:
        """Stop the inner hardware."""
        self.inner.stop()

    def close(self) -> None:
        """Close the inner hardware."""
        self.inner.close()

    def describe(self) -> list[str]:
        """The inner description, and the injected fault."""
        return [*self.inner.describe(), f"fault injection: stalls while {self.path} exists"]


def inject_faults(hardware: Hardware, environ: Mapping[str, str] = os.environ) -> Hardware:
    """``hardware``, wrapped when ``SIM2PI_FAULT_STALL_FILE`` asks for a stall."""
    path = environ.get(STALL_FILE_VARIABLE)
    if not path:
        return hardware
    _log.warning("fault injection on: %s=%s", STALL_FILE_VARIABLE, path)
    return StallWhileFileExists(hardware, Path(path))
