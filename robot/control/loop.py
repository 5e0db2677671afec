"""The fixed-rate control loop: snapshot → observation → policy (or learner) → drive → telemetry.

Deadlines are absolute (``start + k × period``) on an injected monotonic clock, so rounding never
accumulates into drift; a tick that ends after the next deadline is an overrun, and the loop
skips to the first deadline still ahead rather than bursting to catch up.

Fail-safe (``../shared/DESIGN.md``): the motors are stopped before the first valid decision, on
stale or invalid sensor data or a hardware fault, on any exception in a tick, after
``max_consecutive_overruns`` overruns in a row, on SIGTERM/SIGINT (``request_stop``) and at
exit, whatever the exit. A stop is held until a tick produces a valid decision again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from robot.config import LoopConfig
from robot.control.clock import Clock, MonotonicClock
from robot.control.observation import ObservationBuilder, Refusal
from robot.control.telemetry import RunStats, TelemetryWriter
from robot.errors import RobotError, SpecMismatchError
from robot.hardware.base import Hardware, Snapshot
from robot.inference.policy import Decision, Policy
from robot.systemd.sdnotify import Notifier, WatchdogGate
from shared.spec import MotorCommand, TaskSpec

_log = logging.getLogger(__name__)

#: Stop reasons, as they appear in telemetry flags and the exit summary.
START, EXCEPTION, OVERRUNS = "start", "exception", "overruns"
STATUS_EVERY_S = 1.0


class Learner(Protocol):
    """The on-robot learner (``robot.learning``): it chooses what driving ticks drive."""

    def step(self, raw_observation: np.ndarray, bumper: bool | None, now_s: float) -> Any:
        """Learn from the last tick; return a Choice (``action_index`` or None, ``command``)."""
        ...

    def telemetry_fields(self) -> dict[str, Any]:
        """Fields merged into this tick's telemetry record."""
        ...

    def summary(self) -> dict[str, Any]:
        """Totals merged into the exit summary under ``learning``."""
        ...

    def close(self) -> Any:
        """Save the learner's state (called at every exit of ``run``)."""
        ...


class LoopFailedError(RobotError, RuntimeError):
    """Too many ticks in a row raised: the loop gives up (the service manager restarts it)."""


@dataclass(frozen=True)
class Replacement:
    """A validated policy, spec, loop config and telemetry to switch to (a SIGHUP reload)."""

    policy: Policy
    spec: TaskSpec
    config: LoopConfig
    #: The telemetry writer to use from the switch on (None: none); the old one is closed
    #: unless it is the same object.
    telemetry: TelemetryWriter | None
    #: What runs now, for logs and ``STATUS=``, e.g. ``obstacle-1f2e (tflite: policy.tflite)``.
    label: str
    #: Learning after the switch. None keeps the running learner (or none) with its state;
    #: otherwise, at the switch, the running learner is closed (its state saved) and this opens
    #: the next one (None: learning off). It runs on the loop's thread, so no two learners ever
    #: touch one state directory at once; if it raises, the whole reload is refused.
    open_learner: Callable[[], Learner | None] | None = None
    #: Called (on the loop's thread) when the switch is refused after all: the learner failed.
    on_refused: Callable[[], None] | None = None


def motor_commands(spec: TaskSpec) -> list[MotorCommand]:
    """The motor command of each action of ``spec``; SpecMismatchError if one has none."""
    commands = [action.motor for action in spec.actions]
    if any(command is None for command in commands):
        raise SpecMismatchError(
            f"bundle spec {spec.env_id!r}: its actions {list(spec.actions.names)} have no "
            "motor commands, so they cannot drive a robot; export a robot task's bundle"
        )
    return commands  # type: ignore[return-value]


class ControlLoop:
    """Runs a policy on hardware at a fixed rate, stopping the motors whenever in doubt."""

    def __init__(
        self,
        hardware: Hardware,
        policy: Policy,
        spec: TaskSpec,
        config: LoopConfig,
        *,
        clock: Clock | None = None,
        telemetry: TelemetryWriter | None = None,
        notifier: Notifier | None = None,
        learner: Learner | None = None,
        max_consecutive_errors: int = 10,
        label: str = "",
    ) -> None:
        """Wire the parts; nothing moves until ``run``.

        Args:
            hardware: the backend (its ``close`` is the caller's job).
            policy: the greedy policy.
            spec: the bundle's task spec (observation channels, action → motor command).
            config: rate and fail-safe limits.
            clock: monotonic time and waiting (default: the real one).
            telemetry: per-tick JSON Lines writer, or None.
            notifier: sd_notify (READY at the first valid decision, WATCHDOG on healthy ticks,
                STATUS about once a second, STOPPING at exit), or None.
            learner: the on-robot learner's hook, or None.
            max_consecutive_errors: ticks raising in a row before the loop gives up.
            label: what runs (bundle and policy), shown in ``STATUS=``.
        """
        commands = motor_commands(spec)
        self.hardware = hardware
        self.policy = policy
        self.spec = spec
        self.config = config
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.telemetry = telemetry
        self.notifier = notifier
        self.learner = learner
        self.max_consecutive_errors = max_consecutive_errors
        self.period_s = 1.0 / config.rate_hz
        self.commands: list[MotorCommand] = commands
        self.label = label
        self.observer = ObservationBuilder(spec.observation, config.max_sensor_age_s)
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

    def run(self, max_ticks: int | None = None) -> dict[str, Any]:
        """Run until ``request_stop``, ``max_ticks`` or a fatal error; return the summary."""
        stats = self.stats
        self._stop(START, "before the first valid decision", count=False)
        start = self.clock.now()
        stats.started_s = start
        deadline = start
        try:
            while self.stop_requested is None and (max_ticks is None or stats.ticks < max_ticks):
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
            stats.exit_reason = self.stop_requested or f"max_ticks ({max_ticks})"
        except BaseException as exc:
            stats.exit_reason = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._stop(stats.exit_reason or "exit", "the loop is ending", count=False)
            stats.ended_s = self.clock.now()
            if self.notifier is not None:
                self.notifier.stopping()
            if self.telemetry is not None:
                self.telemetry.close()
            if self.learner is not None:
                self.learner.close()
        summary = stats.summary()
        if self.learner is not None:
            summary["learning"] = self.learner.summary()
        return summary

    def _switch(self) -> float:
        """Apply the pending replacement between two ticks; return the new grid's start."""
        new, self._pending = self._pending, None
        assert new is not None
        if new.open_learner is not None and not self._switch_learner(new):
            return self.clock.now()
        old_telemetry = self.telemetry
        self.policy = new.policy
        self.spec = new.spec
        self.commands = motor_commands(new.spec)
        self.config = new.config
        self.period_s = 1.0 / new.config.rate_hz
        self.observer = ObservationBuilder(new.spec.observation, new.config.max_sensor_age_s)
        self.telemetry = new.telemetry
        if old_telemetry is not None and old_telemetry is not new.telemetry:
            old_telemetry.close()
        self.label = new.label
        _log.info("reloaded: now running %s at %s Hz", new.label, new.config.rate_hz)
        if self.notifier is not None:
            if self.stats.first_decision_s is not None:
                self.notifier.ready(status=f"reloaded: {new.label}")
            else:  # READY=1 waits for the first valid decision, as at start
                self.notifier.status(f"reloaded: {new.label}")
        return self.clock.now()

    def _switch_learner(self, new: Replacement) -> bool:
        """Close the running learner and open the replacement's; False (and all kept) on error."""
        assert new.open_learner is not None
        try:
            if self.learner is not None:
                self.learner.close()  # saved: the next learner resumes from it if it may
            learner = new.open_learner()
        except Exception as exc:  # a state directory we cannot use: keep everything as it was
            _log.error(
                "reload refused, still running %s with the old config: cannot start learning "
                "for %s: %s",
                self.label,
                new.label,
                exc,
                exc_info=not isinstance(exc, RobotError | OSError | ValueError),
            )
            if new.telemetry is not None and new.telemetry is not self.telemetry:
                new.telemetry.close()
            if new.on_refused is not None:
                new.on_refused()
            if self.notifier is not None and self.stats.first_decision_s is not None:
                self.notifier.ready(status=f"reload refused; still running {self.label}")
            return False
        self.learner = learner
        return True

    def _tick(self, deadline: float) -> bool:
        """One tick; returns whether it ended before the next deadline."""
        stats = self.stats
        started = self.clock.now()
        cpu_start = time.perf_counter()
        lateness = started - deadline
        observation: np.ndarray | None = None
        decision: Decision | None = None
        snapshot: Snapshot | None = None
        fresh = False
        fatal: LoopFailedError | None = None
        try:
            snapshot = self.hardware.snapshot()
            built = self.observer.build(snapshot, started)
            if isinstance(built, Refusal):
                self._stop(built.reason, built.detail)
            else:
                observation = built
                fresh = True
                if self.learner is None:
                    decision_start = time.perf_counter()
                    decision = self.policy.decide(observation)
                    stats.decision_s.add(time.perf_counter() - decision_start)
                if self._overrun_streak >= self.config.max_consecutive_overruns:
                    # Held until a tick ends on time again.
                    self._stop(OVERRUNS, f"{self._overrun_streak} deadlines missed in a row")
                elif self.learner is None:
                    self.hardware.drive(self.commands[decision.action_index])  # type: ignore[union-attr]
                    self._driving()
                else:
                    # Learning: the learner's table decides (the policy's model is not run), so
                    # the tick record's action and Q-values are the ones acted on.
                    decision_start = time.perf_counter()
                    choice = self.learner.step(observation, snapshot.bumper, started)
                    stats.decision_s.add(time.perf_counter() - decision_start)
                    if choice.action_index is not None:  # None: a recovery manoeuvre step
                        decision = Decision(choice.action_index, choice.q_values)  # type: ignore[arg-type]
                    self.hardware.drive(choice.command)
                    self._driving()
            self._error_streak = 0
        except Exception as exc:  # any failure in a tick stops the motors; the loop goes on
            fresh = False
            stats.errors += 1
            self._error_streak += 1
            if self._error_streak == 1:
                _log.exception("tick %d raised; motors stopped", stats.ticks)
            self._stop(EXCEPTION, f"{type(exc).__name__}: {exc}")
            if self._error_streak >= self.max_consecutive_errors:
                fatal = LoopFailedError(
                    f"{self._error_streak} ticks in a row raised (last: {exc!r}); giving up"
                )
                fatal.__cause__ = exc
        stats.ticks += 1
        ended = self.clock.now()
        on_time = ended <= deadline + self.period_s
        if on_time:
            self._overrun_streak = 0
        else:
            stats.overruns += 1
            self._overrun_streak += 1
            limit = self.config.max_consecutive_overruns
            if self._overrun_streak >= limit and self._stopped_for != OVERRUNS:
                self._stop(
                    OVERRUNS,
                    f"{self._overrun_streak} deadlines missed in a row (limit {limit})",
                )
        compute = time.perf_counter() - cpu_start
        stats.compute_s.add(compute)
        stats.lateness_s.add(max(lateness, 0.0))
        if fresh and on_time and self._gate is not None:
            self._gate.healthy_tick()
        if self.notifier is not None and ended >= self._next_status_s:
            self._next_status_s = ended + STATUS_EVERY_S
            self.notifier.status(self._status_line())
        if self.telemetry is not None and self.telemetry.wants(stats.ticks - 1):
            record = {
                "t_s": round(started, 6),
                "tick": stats.ticks - 1,
                "obs": None if observation is None else [round(float(v), 5) for v in observation],
                "action": None if decision is None else decision.action_index,
                "q": None if decision is None else [round(float(v), 5) for v in decision.q_values],
                "compute_us": round(compute * 1e6, 1),
                "late_us": round(lateness * 1e6, 1),
                "stopped": self._stopped_for,
                "overrun": not on_time,
                "bumper": None if snapshot is None else snapshot.bumper,
            }
            if self.learner is not None:
                record.update(self.learner.telemetry_fields())
            try:
                self.telemetry.write(record)
            except OSError as exc:
                # A full disk must not take the robot down: telemetry stops, driving goes on.
                _log.error("telemetry disabled: cannot write %s: %s", self.telemetry.path, exc)
                self.telemetry.close()
                self.telemetry = None
        if fatal is not None:
            raise fatal
        return on_time

    def _driving(self) -> None:
        if self.stats.first_decision_s is None:
            self.stats.first_decision_s = self.clock.now()
            _log.info("first valid decision; driving")
            if self.notifier is not None:
                self.notifier.ready(status="driving")
        elif self._stopped_for is not None:
            _log.info("driving again after a stop (%s)", self._stopped_for)
        self.stats.decisions += 1
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
