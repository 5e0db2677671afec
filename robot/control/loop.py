"""The fixed-rate control loop: snapshot → observation → decide → drive → record.

Deadlines are absolute (``start + k × period``) on an injected monotonic clock, so rounding never
accumulates into drift; a tick that ends after the next deadline is an overrun, and the loop
skips to the first deadline still ahead rather than bursting to catch up.

Fail-safe (``docs/robot-runtime.md``): the motors are stopped before the first valid decision, on
stale or invalid sensor data or a hardware fault, on any exception in a tick, after
``max_consecutive_overruns`` overruns in a row, on SIGTERM/SIGINT (``request_stop``) and at
exit, whatever the exit. A stop is held until a tick produces a valid decision again.

The supervisor (``robot.control.supervisor``) sees each valid observation before the decider:
on contact, no progress or oscillation it drives the recovery manoeuvre instead (the decider is
told, and not asked until it ends), and it stops the motors when the robot is ``stuck``. Every
choice it leaves to the decider passes its shield.

A backend that is a simulated world (``robot.control.world``: the laptop's ``gym``) may be
driven by action index, when the bundle's actions have no motor commands; ``run(max_episodes=N)``
ends after N of its episodes, and its episodes are in the summary.

The loop borrows everything it is given (hardware, decider, supervisor, telemetry, notifier)
and closes none of it: whoever opened a part closes it (``robot.runtime``, ``robot.cli.run``).
The one exception is a telemetry writer whose write failed: it is closed at once and not used again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot.config import LoopConfig
from robot.control.clock import Clock, MonotonicClock
from robot.control.decider import Choice, Decider
from robot.control.observation import ObservationBuilder, Refusal
from robot.control.supervisor import STUCK, Supervisor, Takeover
from robot.control.telemetry import RunStats, TelemetryWriter, TickTrace
from robot.control.world import EpisodicWorld, action_world, world_of
from robot.errors import RobotError
from robot.hardware.base import Hardware
from robot.systemd.sdnotify import Notifier, WatchdogGate
from shared.spec import TaskSpec

_log = logging.getLogger(__name__)

#: Stop reasons, as they appear in telemetry flags and the exit summary.
START, EXCEPTION, OVERRUNS = "start", "exception", "overruns"
STATUS_EVERY_S = 1.0


class LoopFailedError(RobotError, RuntimeError):
    """Too many ticks in a row raised: the loop gives up (the service manager restarts it)."""


@dataclass(frozen=True)
class Replacement:
    """A validated decider, spec, loop config and telemetry to switch to (a SIGHUP reload)."""

    spec: TaskSpec
    config: LoopConfig
    #: The telemetry writer to use from the switch on (None: none).
    telemetry: TelemetryWriter | None
    #: What runs now, for logs and ``STATUS=``, e.g. ``bundle obstacle-1f2e, policy tflite``.
    label: str
    #: Called on the loop's thread at the switch; returns the decider from then on (it may be
    #: the running one). It saves a running learner before a next one opens, so no two learners
    #: ever touch one state directory at once; if it raises, the whole reload is refused.
    open_decider: Callable[[], Decider]
    #: Called on the loop's thread right after the switch (the old parts are no longer used).
    on_switched: Callable[[], None] | None = None
    #: Called on the loop's thread when the switch is refused after all (``open_decider``
    #: raised); everything that ran before runs on.
    on_refused: Callable[[], None] | None = None
    #: The supervisor from the switch on (None: ``[supervisor]`` is off). A new one starts
    #: afresh: a reload ends a ``stuck`` hold.
    supervisor: Supervisor | None = None


class ControlLoop:
    """Runs a decider on hardware at a fixed rate, stopping the motors whenever in doubt."""

    def __init__(
        self,
        hardware: Hardware,
        decider: Decider,
        spec: TaskSpec,
        config: LoopConfig,
        *,
        clock: Clock | None = None,
        telemetry: TelemetryWriter | None = None,
        notifier: Notifier | None = None,
        supervisor: Supervisor | None = None,
        max_consecutive_errors: int = 10,
        label: str = "",
    ) -> None:
        """Wire the parts; nothing moves until ``run``. The loop closes none of them.

        Args:
            hardware: the backend.
            decider: what chooses each tick's command (the greedy policy or the learner).
            spec: the bundle's task spec (its observation channels).
            config: rate and fail-safe limits.
            clock: monotonic time and waiting (default: the real one).
            telemetry: per-tick JSON Lines writer, or None.
            notifier: sd_notify (READY at the first valid decision, WATCHDOG on healthy ticks,
                STATUS about once a second, STOPPING at exit), or None.
            supervisor: takes the motors on contact, no progress or oscillation, and stops
                them when the robot is ``stuck`` (``robot.control.supervisor``); None: off.
            max_consecutive_errors: ticks raising in a row before the loop gives up.
            label: what runs (bundle and policy), shown in ``STATUS=``.
        """
        self.hardware = hardware
        self.decider = decider
        self.spec = spec
        self.config = config
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.telemetry = telemetry
        self.notifier = notifier
        self.supervisor = supervisor
        self.max_consecutive_errors = max_consecutive_errors
        self.period_s = 1.0 / config.rate_hz
        self.label = label
        self.observer = ObservationBuilder(spec.observation, config.max_sensor_age_s)
        #: The world to drive by action index (the spec's actions have no motor commands).
        self._by_index: EpisodicWorld | None = action_world(spec, hardware)
        self.stats = RunStats()
        self.wake = threading.Event()
        self.stop_requested: str | None = None
        self._gate = None if notifier is None else WatchdogGate(notifier, clock=self.clock.now)
        self._stopped_for: str | None = START
        self._overrun_streak = 0
        self._error_streak = 0
        self._next_status_s = -math.inf
        self._pending: Replacement | None = None

    def replace(self, replacement: Replacement) -> None:
        """Switch to ``replacement`` at the next tick boundary (safe from another thread)."""
        self._pending = replacement

    def request_stop(self, reason: str) -> None:
        """Ask the loop to stop the motors and return (safe to call from a signal handler)."""
        self.stop_requested = reason
        # Event.set takes the event's lock, which this very thread holds for a few bytecodes
        # inside Event.wait; a signal handler that ran there would deadlock on it. Another
        # thread simply waits for the lock, and the loop wakes at once.
        threading.Thread(target=self.wake.set, name="sim2pi-wake", daemon=True).start()

    def run(self, max_ticks: int | None = None, max_episodes: int | None = None) -> dict[str, Any]:
        """Run until ``request_stop``, ``max_ticks``, ``max_episodes`` ended episodes of a
        simulated world (``robot.control.world``) or a fatal error; return the summary."""
        stats = self.stats
        world = world_of(self.hardware)
        if max_episodes is not None and world is None:
            raise ValueError(f"max_episodes: the {self.hardware.name} backend has no episodes")

        def episodes_done() -> bool:
            return (
                world is not None
                and max_episodes is not None
                and (world.episodes_ended() >= max_episodes)
            )

        self._stop(START, "before the first valid decision", count=False)
        start = self.clock.now()
        stats.started_s = start
        deadline = start
        try:
            while self.stop_requested is None and (max_ticks is None or stats.ticks < max_ticks):
                if episodes_done():
                    break
                self.clock.wait_until(deadline, self.wake)
                if self.stop_requested is not None:
                    break
                if self._pending is not None:
                    # A new rate needs a new grid: start it here, at a tick boundary.
                    start = deadline = self._switch()
                on_time = self._tick(deadline)
                deadline += self.period_s
                now = self.clock.now()
                if not on_time:
                    # Skip the deadlines already missed: start again on the grid, ahead of now.
                    deadline = start + math.ceil((now - start) / self.period_s) * self.period_s
            stats.exit_reason = self.stop_requested or (
                f"max_episodes ({max_episodes})" if episodes_done() else f"max_ticks ({max_ticks})"
            )
        except BaseException as exc:
            stats.exit_reason = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._stop(stats.exit_reason or "exit", "the loop is ending", count=False)
            stats.ended_s = self.clock.now()
            if self.notifier is not None:
                self.notifier.stopping()
        summary = stats.summary()
        if self.supervisor is not None:
            summary["supervisor"] = self.supervisor.summary()
        learning = self.decider.summary()
        if learning is not None:
            summary["learning"] = learning
        if world is not None:
            summary["episodes"] = world.episodes_summary()
        return summary

    # -- a reload --------------------------------------------------------------------------

    def _switch(self) -> float:
        """Apply the pending replacement between two ticks; return the new grid's start."""
        new, self._pending = self._pending, None
        assert new is not None
        try:
            # compose refused already a bundle this hardware cannot drive; never crash on one
            by_index = action_world(new.spec, self.hardware)
            decider = new.open_decider()
        except Exception as exc:  # a state directory we cannot use: keep everything as it was
            self._refuse(new, exc)
            return self.clock.now()
        self.decider = decider
        self.spec = new.spec
        self._by_index = by_index
        self.config = new.config
        self.period_s = 1.0 / new.config.rate_hz
        self.observer = ObservationBuilder(new.spec.observation, new.config.max_sensor_age_s)
        self.telemetry = new.telemetry
        self.supervisor = new.supervisor
        self.label = new.label
        if new.on_switched is not None:
            new.on_switched()
        _log.info("reloaded: now running %s at %s Hz", new.label, new.config.rate_hz)
        if self.notifier is not None:
            if self.stats.first_decision_s is not None:
                self.notifier.ready(status=f"reloaded: {new.label}")
            else:  # READY=1 waits for the first valid decision, as at start
                self.notifier.status(f"reloaded: {new.label}")
        return self.clock.now()

    def _refuse(self, new: Replacement, exc: Exception) -> None:
        """The replacement's decider could not open: log it, and run on with what runs."""
        _log.error(
            "reload refused, still running %s with the old config: cannot start learning "
            "for %s: %s",
            self.label,
            new.label,
            exc,
            exc_info=not isinstance(exc, RobotError | OSError | ValueError),
        )
        if new.on_refused is not None:
            new.on_refused()
        if self.notifier is not None and self.stats.first_decision_s is not None:
            self.notifier.ready(status=f"reload refused; still running {self.label}")

    # -- one tick --------------------------------------------------------------------------

    def _tick(self, deadline: float) -> bool:
        """One tick; returns whether it ended before the next deadline."""
        started = self.clock.now()
        cpu_start = time.perf_counter()
        tick = TickTrace(started_s=started, lateness_s=started - deadline)
        fatal: LoopFailedError | None = None
        try:
            self._sense_decide_drive(tick)
            self._error_streak = 0
        except Exception as exc:  # any failure in a tick stops the motors; the loop goes on
            tick.fresh = False
            fatal = self._failed(exc)
        self.stats.ticks += 1
        self._account(tick, deadline, cpu_start)
        self._report(tick)
        if fatal is not None:
            raise fatal
        return tick.on_time

    def _sense_decide_drive(self, tick: TickTrace) -> None:
        """Snapshot → observation → supervisor → decide → drive, or stop the motors with the
        reason."""
        tick.snapshot = self.hardware.snapshot()
        built = self.observer.build(tick.snapshot, tick.started_s)
        if isinstance(built, Refusal):
            self._stop(built.reason, built.detail)
            return
        tick.observation = built
        tick.fresh = True
        # Held after too many overruns, until a tick ends on time again. A learner is not asked
        # then (it would learn from a choice not driven); a greedy policy still is (telemetry).
        held = self._overrun_streak >= self.config.max_consecutive_overruns
        supervisor = self.supervisor
        values = built.tolist() if supervisor is not None else None
        if supervisor is not None:
            takeover = supervisor.check(values, tick.snapshot.bumper, tick.started_s)
            if takeover is not None:
                self._take_over(takeover, built, held)
                return
        if not (held and self.decider.learns):
            tick.choice = self._decide(built, tick.snapshot.bumper, tick.started_s)
            if supervisor is not None:
                tick.choice = supervisor.shielded(tick.choice, values)
        if held:
            self._stop(OVERRUNS, f"{self._overrun_streak} deadlines missed in a row")
        elif tick.choice is not None:
            self._drive(tick.choice)
            if supervisor is not None:
                choice = tick.choice
                supervisor.driven(choice.command, tick.started_s, explored=choice.explored)
            self._driving()

    def _drive(self, choice: Choice) -> None:
        """Drive the decider's choice: its motor command, or a world's action by index."""
        if self._by_index is not None and choice.decision is not None:
            self._by_index.drive_action(choice.decision.action_index)
        else:
            self.hardware.drive(choice.command)

    def _take_over(self, takeover: Takeover, observation: np.ndarray, held: bool) -> None:
        """Drive the supervisor's command (or stop: ``stuck``); the decider is not asked."""
        if takeover.begins:
            _log.warning("supervisor: %s: %s; recovering", takeover.reason, takeover.detail)
            self.decider.interrupted(observation, takeover.reason)
        if takeover.command is None:
            self._stop(STUCK, takeover.detail)
            if self.supervisor is not None and self.supervisor.exits_when_stuck:
                self.stop_requested = STUCK
        elif held:
            self._stop(OVERRUNS, f"{self._overrun_streak} deadlines missed in a row")
        else:
            self.hardware.drive(takeover.command)
            self._driving(decided=False)

    def _decide(self, observation: np.ndarray, bumper: bool | None, now_s: float) -> Choice:
        """The decider's choice, its time recorded in the run's statistics."""
        decision_start = time.perf_counter()
        choice = self.decider.decide(observation, bumper, now_s)
        self.stats.decision_s.add(time.perf_counter() - decision_start)
        return choice

    def _failed(self, exc: Exception) -> LoopFailedError | None:
        """Count a tick that raised and stop the motors; the error to end the loop with, if any."""
        self.stats.errors += 1
        self._error_streak += 1
        if self._error_streak == 1:
            _log.exception("tick %d raised; motors stopped", self.stats.ticks)
        self._stop(EXCEPTION, f"{type(exc).__name__}: {exc}")
        if self._error_streak < self.max_consecutive_errors:
            return None
        fatal = LoopFailedError(
            f"{self._error_streak} ticks in a row raised (last: {exc!r}); giving up"
        )
        fatal.__cause__ = exc
        return fatal

    def _account(self, tick: TickTrace, deadline: float, cpu_start: float) -> None:
        """Whether the tick ended on time (stopping the motors after too many overruns), and its
        compute time and lateness in the run's statistics."""
        tick.ended_s = self.clock.now()
        tick.on_time = tick.ended_s <= deadline + self.period_s
        if tick.on_time:
            self._overrun_streak = 0
        else:
            self.stats.overruns += 1
            self._overrun_streak += 1
            limit = self.config.max_consecutive_overruns
            if self._overrun_streak >= limit and self._stopped_for != OVERRUNS:
                self._stop(
                    OVERRUNS,
                    f"{self._overrun_streak} deadlines missed in a row (limit {limit})",
                )
        tick.compute_s = time.perf_counter() - cpu_start
        self.stats.compute_s.add(tick.compute_s)
        self.stats.lateness_s.add(max(tick.lateness_s, 0.0))

    def _report(self, tick: TickTrace) -> None:
        """The watchdog (healthy ticks only), ``STATUS=`` about once a second, telemetry."""
        if tick.fresh and tick.on_time and self._gate is not None:
            self._gate.healthy_tick()
        if self.notifier is not None and tick.ended_s >= self._next_status_s:
            self._next_status_s = tick.ended_s + STATUS_EVERY_S
            self.notifier.status(self._status_line())
        if self.telemetry is not None and self.telemetry.wants(self.stats.ticks - 1):
            self._record(self.telemetry, tick)

    def _record(self, telemetry: TelemetryWriter, tick: TickTrace) -> None:
        """Write the tick's telemetry record; a writer that fails is not used again."""
        record = tick.record(self.stats.ticks - 1, self._stopped_for)
        if self.supervisor is not None:  # it judged only ticks with a valid observation
            record.update(
                self.supervisor.telemetry_fields() if tick.fresh else {"supervisor": None}
            )
        record.update(self.decider.telemetry_fields())
        try:
            telemetry.write(record)
        except OSError as exc:
            # A full disk must not take the robot down: telemetry stops, driving goes on. The
            # writer is closed at once (its buffered lines are lost anyway; closing twice is
            # safe, so its owner's close at exit does nothing more).
            _log.error("telemetry disabled: cannot write %s: %s", telemetry.path, exc)
            telemetry.close()
            self.telemetry = None

    def _driving(self, *, decided: bool = True) -> None:
        """The motors drive (``decided``: the decider's choice, else the supervisor's)."""
        if self.stats.first_decision_s is None:
            self.stats.first_decision_s = self.clock.now()
            _log.info("first valid decision; driving")
            if self.notifier is not None:
                self.notifier.ready(status="driving")
        elif self._stopped_for is not None:
            _log.info("driving again after a stop (%s)", self._stopped_for)
        self.stats.decisions += int(decided)
        self._stopped_for = None

    def _stop(self, reason: str, detail: str, *, count: bool = True) -> None:
        """Stop the motors for ``reason``; log when the reason changes."""
        try:
            self.hardware.stop()
        except Exception:
            _log.critical("could not stop the motors (%s: %s)", reason, detail, exc_info=True)
        new_event = self._stopped_for != reason
        if new_event:
            _log.warning("motors stopped: %s: %s", reason, detail)
        if count:
            self.stats.count_stop(reason, new_event)
        self._stopped_for = reason

    def _status_line(self) -> str:
        elapsed = self.clock.now() - self.stats.started_s
        rate = self.stats.ticks / elapsed if elapsed > 0 else 0.0
        state = "driving" if self._stopped_for is None else f"stopped ({self._stopped_for})"
        line = f"{state}; {rate:.1f} Hz, {self.stats.overruns} overruns, {self.stats.errors} errors"
        return f"{line}; {self.label}" if self.label else line
