"""Signals while ``robot run`` drives: SIGTERM and SIGINT stop the loop, SIGHUP reloads."""

from __future__ import annotations

import logging
import signal
from typing import Any

from robot.control.loop import ControlLoop
from robot.runtime.reload import Reloader

_log = logging.getLogger("robot")


def install_signal_handlers(loop: ControlLoop) -> dict[int, Any]:
    """SIGTERM and SIGINT ask the loop to stop; returns the previous handlers."""

    def handler(signum: int, _frame: object) -> None:
        loop.request_stop(signal.Signals(signum).name)

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def restore_signal_handlers(previous: dict[int, Any]) -> None:
    """Put back the handlers ``install_signal_handlers`` replaced."""
    for sig, old in previous.items():
        signal.signal(sig, old)


class HangupLatch:
    """Catches SIGHUP from the start (its default action would kill the process) and passes it
    on to the reloader once there is one."""

    def __init__(self) -> None:
        self.reloader: Reloader | None = None
        self.early = False
        self.previous = signal.signal(signal.SIGHUP, self._handle)

    def _handle(self, _signum: int, _frame: object) -> None:
        if self.reloader is None:
            self.early = True
        else:
            self.reloader.request()

    def attach(self, reloader: Reloader) -> None:
        """From now on SIGHUP reloads; one that came during start-up reloads now."""
        self.reloader = reloader
        if self.early:
            _log.info("SIGHUP arrived during start-up; reloading now")
            reloader.request()

    def restore(self) -> None:
        """Put back the handler that was there before."""
        signal.signal(signal.SIGHUP, self.previous)
