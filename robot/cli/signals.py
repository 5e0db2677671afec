"""Signals while ``robot run`` runs: SIGTERM and SIGINT stop it cleanly, SIGHUP reloads.

``main`` installs both latches on its first line, before anything slow (importing the commands,
reading the config, verifying the bundle, the TFLite probe's children, opening the backend), so
a signal at any moment of ``run`` ends it the way the docs promise:

- during start-up, ``StopLatch`` only notes it; start-up asks ``check(step)`` between its slow
  steps and ends there (``StartupStopped``: one log line, exit 0; the loop never ran, so no motor
  was driven);
- once the loop exists, the latch hands it over (``hand_over``): a signal asks the loop to stop
  the motors and return (exit 0), as a signal noted during start-up does at once;
- after the loop (``loop_ended``), during exit, a signal changes nothing: the exit under way is
  already the clean one.

This module imports only the standard library: it is loaded before anything else of ``run``.
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from robot.control.loop import ControlLoop
    from robot.runtime.reload import Reloader

_log = logging.getLogger("robot")

#: The signals that stop ``robot run`` (systemd's KillSignal=, Ctrl-C).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StartupStopped(Exception):  # noqa: N818 (not an error: the clean way out of start-up)
    """A stop signal arrived during start-up: end before the loop runs, with exit code 0."""

    def __init__(self, signal_name: str, detail: str) -> None:
        super().__init__(
            f"{signal_name} during start-up ({detail}): stopped before the control loop ran; "
            "no motor was driven"
        )
        self.signal_name = signal_name


class StopLatch:
    """SIGTERM and SIGINT from the first line of ``main``: noted during start-up, passed to the
    loop while it runs, ignored during exit. Installing it replaces the current handlers."""

    def __init__(self) -> None:
        #: The first stop signal's name (``SIGTERM``, ``SIGINT``), or None.
        self.signal_name: str | None = None
        self._loop: ControlLoop | None = None
        self._loop_ended = False
        self.previous: dict[int, Any] = {
            sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS
        }

    def _handle(self, signum: int, _frame: object) -> None:
        # Only flags and the loop's own signal-safe request: no logging, no locks here.
        name = signal.Signals(signum).name
        if self.signal_name is None:
            self.signal_name = name
        loop = self._loop
        if loop is not None and not self._loop_ended:
            loop.request_stop(name)

    @property
    def loop_started(self) -> bool:
        """Whether the loop has been handed the signals (start-up is over)."""
        return self._loop is not None

    def check(self, step: str) -> None:
        """Raise ``StartupStopped`` if a stop signal has arrived; ``step``: what start-up did."""
        if self.signal_name is not None:
            raise StartupStopped(self.signal_name, f"noticed after {step}")

    def hand_over(self, loop: ControlLoop) -> None:
        """From now on a stop signal stops ``loop``; one noted already stops it at once."""
        self._loop = loop
        if self.signal_name is not None:
            loop.request_stop(self.signal_name)

    def loop_ended(self) -> None:
        """The loop has returned: a signal from now on changes nothing (the exit goes on)."""
        self._loop_ended = True

    def restore(self, *, redeliver: bool = False) -> None:
        """Put back the handlers there were; ``redeliver``: send a noted signal again, to them
        (a command other than ``run`` keeps the default behaviour of its signals)."""
        for sig, old in self.previous.items():
            signal.signal(sig, old)
        if redeliver and self.signal_name is not None:
            signal.raise_signal(signal.Signals[self.signal_name])


def install_signal_handlers(loop: ControlLoop) -> dict[int, Any]:
    """SIGTERM and SIGINT ask ``loop`` to stop; returns the previous handlers."""
    latch = StopLatch()
    latch.hand_over(loop)
    return latch.previous


def restore_signal_handlers(previous: dict[int, Any]) -> None:
    """Put back the handlers ``install_signal_handlers`` replaced."""
    for sig, old in previous.items():
        signal.signal(sig, old)


def ignore_signals_at_exit() -> None:
    """The process is exiting with its code: SIGTERM, SIGINT and SIGHUP no longer change it.

    Python puts back the default actions while it shuts down, so a SIGTERM in its last
    milliseconds would otherwise still kill a process that has finished cleanly (exit −15).

    A signal that lands while a handler is being switched to ``SIG_IGN`` (after Python's own
    check for pending signals, before the kernel's disposition changes) is noted by Python's C
    handler and found later with no handler to run: CPython then prints
    ``OSError: Signal N ignored due to race condition`` with a traceback. Ignoring it is exactly
    what was asked for, so that one report is dropped; every other unraisable error is not."""
    ignored = (*STOP_SIGNALS, signal.SIGHUP)
    _drop_race_reports(ignored)
    for sig in ignored:
        signal.signal(sig, signal.SIG_IGN)


def _drop_race_reports(signals: tuple[int, ...]) -> None:
    """Wrap ``sys.unraisablehook`` so CPython's "Signal N ignored due to race condition" for
    ``signals`` is not printed; anything else goes to the hook there was."""
    messages = {f"Signal {int(sig)} ignored due to race condition" for sig in signals}
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        exc = unraisable.exc_value
        if isinstance(exc, OSError) and str(exc) in messages:
            return
        previous(unraisable)

    sys.unraisablehook = hook


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

    def restore(self, *, redeliver: bool = False) -> None:
        """Put back the handler that was there before (``redeliver``: and send it one noted)."""
        signal.signal(signal.SIGHUP, self.previous)
        if redeliver and self.early and self.reloader is None:
            signal.raise_signal(signal.SIGHUP)
