"""The control loop on gpio + gpiozero's MockFactory: every fail-safe path leaves the pins at 0."""

from __future__ import annotations

import math
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from robot.cli.bench import DRIVE_PINS, EchoTriggerPin, simulated_gpio
from robot.cli.signals import install_signal_handlers
from robot.config import LoopConfig, TelemetryConfig
from robot.control.clock import MonotonicClock, SimulatedClock
from robot.control.decider import GreedyDecider
from robot.control.loop import ControlLoop, LoopFailedError
from robot.control.telemetry import TelemetryWriter
from robot.errors import SpecMismatchError
from robot.hardware.gpio import GpioHardware
from robot.inference.policy import Decision, Policy, load_policy
from robot.systemd.sdnotify import Notifier
from shared.bundle import Bundle
from shared.spec import Action, ActionTable, TaskSpec

MOTOR_PINS = tuple(pin for side in DRIVE_PINS for pin in side)


class Rig:
    """Simulated reference robot: MockFactory pins, echoing rangers, the gpio backend."""

    def __init__(self, bundle: Bundle, clock_now: Callable[[], float]) -> None:
        channels = bundle.spec.observation.names
        self.factory, config, self.triggers = simulated_gpio(channels, (1.5, 1.5, 1.5))
        self.hardware = GpioHardware(config, channels, clock=clock_now, pin_factory=self.factory)

    def motor_states(self) -> tuple[float, ...]:
        return tuple(float(self.factory.pin(pin).state) for pin in MOTOR_PINS)

    def wait_for_readings(self) -> None:
        deadline = time.monotonic() + 3.0
        while not all(np.isfinite(self.hardware.snapshot().values)):
            assert time.monotonic() < deadline, "the mock rangers never echoed"
            time.sleep(0.01)

    def echoes(self, enabled: bool) -> None:
        for trigger in self.triggers:
            trigger.echo_enabled = enabled

    def close(self) -> None:
        self.hardware.close()
        self.factory.reset()


class ProbeClock(MonotonicClock):
    """The real clock, recording the motor pins each time the loop waits (after every tick)."""

    def __init__(self) -> None:
        self.rig: Rig | None = None
        self.states: list[tuple[float, ...]] = []

    def wait_until(self, deadline_s: float, wake: threading.Event) -> None:
        if self.rig is not None:
            self.states.append(self.rig.motor_states())
        super().wait_until(deadline_s, wake)


class SimProbeClock(SimulatedClock):
    """Simulated time, recording the motor pins after every tick."""

    def __init__(self) -> None:
        super().__init__(1000.0)
        self.rig: Rig | None = None
        self.states: list[tuple[float, ...]] = []

    def wait_until(self, deadline_s: float, wake: threading.Event) -> None:
        if self.rig is not None:
            self.states.append(self.rig.motor_states())
        super().wait_until(deadline_s, wake)


class Scripted(Policy):
    """A real policy, plus a per-tick action (raise, take time) injected by the test."""

    def __init__(self, inner: Policy, on_decide: Callable[[int], None]) -> None:
        self.inner = inner
        self.name = inner.name
        self.on_decide = on_decide
        self.calls = 0

    def decide(self, raw_observation: np.ndarray) -> Decision:
        self.calls += 1
        self.on_decide(self.calls)
        return self.inner.decide(raw_observation)


@pytest.fixture
def probe(bundle: Bundle) -> Iterator[tuple[Rig, ProbeClock]]:
    clock = ProbeClock()
    rig = Rig(bundle, clock.now)
    clock.rig = rig
    rig.wait_for_readings()
    yield rig, clock
    rig.close()


@pytest.fixture
def sim(bundle: Bundle) -> Iterator[tuple[Rig, SimProbeClock]]:
    clock = SimProbeClock()
    rig = Rig(bundle, clock.now)
    clock.rig = rig
    rig.wait_for_readings()
    yield rig, clock
    rig.close()


def driving(state: tuple[float, ...]) -> bool:
    return any(v != 0 for v in state)


STOPPED = (0.0, 0.0, 0.0, 0.0)
FAST = LoopConfig(rate_hz=100.0, max_sensor_age_s=1.0, max_consecutive_overruns=1000)


def test_motors_are_stopped_before_the_first_valid_decision(bundle: Bundle) -> None:
    clock = ProbeClock()
    rig = Rig(bundle, clock.now)
    clock.rig = rig
    try:
        rig.echoes(False)  # no ranger ever answers: there is never a valid decision
        rig.hardware.drive(bundle.spec.actions[0].motor)  # type: ignore[arg-type]
        assert driving(rig.motor_states())
        loop = ControlLoop(
            rig.hardware,
            GreedyDecider.for_spec(load_policy(bundle, "qtable"), bundle.spec),
            bundle.spec,
            FAST,
            clock=clock,
        )
        summary = loop.run(max_ticks=10)
        assert summary["decisions"] == 0
        assert clock.states and all(state == STOPPED for state in clock.states)
        assert summary["stops"]["stale"]["ticks"] == 10
    finally:
        rig.close()


@pytest.mark.tflite
def test_drives_the_action_tables_duties(probe: tuple[Rig, ProbeClock], bundle: Bundle) -> None:
    rig, clock = probe
    loop = ControlLoop(
        rig.hardware,
        GreedyDecider.for_spec(load_policy(bundle, "tflite"), bundle.spec),
        bundle.spec,
        FAST,
        clock=clock,
    )
    summary = loop.run(max_ticks=5)
    # All three rangers read ~1.5 m: the policy drives forward, duty 0.8 on both forward pins.
    forward = bundle.spec.actions[0].motor
    assert forward is not None
    assert clock.states[-1] == pytest.approx((forward.left, 0.0, forward.right, 0.0))
    assert summary["decisions"] == 5
    assert rig.motor_states() == STOPPED  # and stopped at exit


def test_stale_sensor_stops_the_motors_until_fresh_data(
    probe: tuple[Rig, ProbeClock], bundle: Bundle
) -> None:
    rig, clock = probe
    config = LoopConfig(rate_hz=50.0, max_sensor_age_s=0.25, max_consecutive_overruns=1000)
    loop = ControlLoop(
        rig.hardware,
        GreedyDecider.for_spec(load_policy(bundle, "qtable"), bundle.spec),
        bundle.spec,
        config,
        clock=clock,
    )
    threading.Timer(0.3, rig.echoes, (False,)).start()
    threading.Timer(1.3, rig.echoes, (True,)).start()
    summary = loop.run(max_ticks=100)  # 2 s
    states = clock.states
    first_stop = next(i for i, s in enumerate(states) if i > 0 and s == STOPPED)
    assert any(driving(s) for s in states[:first_stop])
    assert any(driving(s) for s in states[first_stop:]), "never drove again after fresh data"
    assert summary["stops"]["stale"]["events"] >= 1
    assert summary["stops"]["stale"]["ticks"] >= 10  # ~1 s without echoes minus the 0.25 s grace


def test_an_exception_in_a_tick_stops_the_motors_and_the_loop_goes_on(
    sim: tuple[Rig, SimProbeClock], bundle: Bundle
) -> None:
    rig, clock = sim

    def fail_on_third(call: int) -> None:
        if call == 3:
            raise RuntimeError("inference exploded")

    policy = Scripted(load_policy(bundle, "qtable"), fail_on_third)
    loop = ControlLoop(
        rig.hardware, GreedyDecider.for_spec(policy, bundle.spec), bundle.spec, FAST, clock=clock
    )
    summary = loop.run(max_ticks=6)
    assert [driving(s) for s in clock.states[1:]] == [True, True, False, True, True]
    assert summary["errors"] == 1
    assert summary["stops"]["exception"] == {"events": 1, "ticks": 1}


def test_consecutive_exceptions_end_the_loop_with_the_motors_stopped(
    sim: tuple[Rig, SimProbeClock], bundle: Bundle
) -> None:
    rig, clock = sim

    def always_fail(call: int) -> None:
        if call > 2:
            raise RuntimeError("stuck")

    loop = ControlLoop(
        rig.hardware,
        GreedyDecider.for_spec(Scripted(load_policy(bundle, "qtable"), always_fail), bundle.spec),
        bundle.spec,
        FAST,
        clock=clock,
        max_consecutive_errors=4,
    )
    with pytest.raises(LoopFailedError, match="4 ticks in a row raised"):
        loop.run(max_ticks=100)
    assert loop.stats.ticks == 6
    assert rig.motor_states() == STOPPED


def test_consecutive_overruns_stop_the_motors(
    sim: tuple[Rig, SimProbeClock], bundle: Bundle
) -> None:
    rig, clock = sim
    config = LoopConfig(rate_hz=50.0, max_sensor_age_s=10.0, max_consecutive_overruns=3)
    period = 1 / 50.0

    def slow_on_5_to_8(call: int) -> None:
        if 5 <= call <= 8:
            clock.advance(1.5 * period)  # this decision takes 30 ms of a 20 ms period

    policy = Scripted(load_policy(bundle, "qtable"), slow_on_5_to_8)
    loop = ControlLoop(
        rig.hardware, GreedyDecider.for_spec(policy, bundle.spec), bundle.spec, config, clock=clock
    )
    summary = loop.run(max_ticks=12)
    moving = [driving(s) for s in clock.states[1:]]  # after ticks 1..11
    # Ticks 5..8 overrun; the third in a row (tick 7) stops the motors, which stay stopped until
    # a tick ends on time (tick 9, held stopped); tick 10 drives again.
    assert moving == [True] * 6 + [False, False, False] + [True] * 2
    assert summary["overruns"] == 4
    assert summary["stops"]["overruns"] == {"events": 1, "ticks": 3}


def test_fixed_rate_without_drift_and_no_burst_after_an_overrun(
    sim: tuple[Rig, SimProbeClock], bundle: Bundle
) -> None:
    rig, clock = sim
    config = LoopConfig(rate_hz=50.0, max_sensor_age_s=10.0, max_consecutive_overruns=100)
    starts: list[float] = []

    def record(call: int) -> None:
        starts.append(clock.now())
        if call == 100:
            clock.advance(0.05)  # 2.5 periods: deadlines 101 and 102 are missed

    loop = ControlLoop(
        rig.hardware,
        GreedyDecider.for_spec(Scripted(load_policy(bundle, "qtable"), record), bundle.spec),
        bundle.spec,
        config,
        clock=clock,
    )
    loop.run(max_ticks=400)
    t0 = starts[0]
    grid = [round((t - t0) / 0.02, 9) for t in starts]
    assert grid[:100] == [float(k) for k in range(100)]
    # After the long tick (k = 99, ending at 101.5 periods) the next start is 102, on the grid.
    assert grid[100:] == [float(k) for k in range(102, 402)]
    assert all(math.isclose(g, round(g), abs_tol=1e-6) for g in grid)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_motors_and_ends_the_loop(
    probe: tuple[Rig, ProbeClock], bundle: Bundle, signum: signal.Signals
) -> None:
    rig, clock = probe
    loop = ControlLoop(
        rig.hardware,
        GreedyDecider.for_spec(load_policy(bundle, "qtable"), bundle.spec),
        bundle.spec,
        FAST,
        clock=clock,
    )
    previous = install_signal_handlers(loop)
    try:
        threading.Timer(0.3, os.kill, (os.getpid(), signum)).start()
        started = time.monotonic()
        summary = loop.run()
        assert time.monotonic() - started < 3.0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert summary["exit_reason"] == signum.name
    assert any(driving(s) for s in clock.states)
    assert rig.motor_states() == STOPPED


def test_an_escaping_exception_still_stops_the_motors(
    sim: tuple[Rig, SimProbeClock], bundle: Bundle
) -> None:
    rig, clock = sim

    def interrupt(call: int) -> None:
        if call == 4:
            raise KeyboardInterrupt

    loop = ControlLoop(
        rig.hardware,
        GreedyDecider.for_spec(Scripted(load_policy(bundle, "qtable"), interrupt), bundle.spec),
        bundle.spec,
        FAST,
        clock=clock,
    )
    with pytest.raises(KeyboardInterrupt):
        loop.run(max_ticks=10)
    assert driving(clock.states[-1])
    assert rig.motor_states() == STOPPED
    assert loop.stats.exit_reason == "KeyboardInterrupt: "


@pytest.mark.tflite
def test_telemetry_and_sd_notify_hooks(
    sim: tuple[Rig, SimProbeClock], bundle: Bundle, tmp_path: Path
) -> None:
    rig, clock = sim
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(tmp_path / "notify"))
    server.settimeout(1.0)
    notifier = Notifier(str(tmp_path / "notify"), watchdog_usec=200_000)
    telemetry = TelemetryWriter(
        TelemetryConfig(enabled=True, path=tmp_path / "t.jsonl", every_n_ticks=2)
    )
    loop = ControlLoop(
        rig.hardware,
        GreedyDecider.for_spec(load_policy(bundle, "tflite-int8"), bundle.spec),
        bundle.spec,
        FAST,
        clock=clock,
        telemetry=telemetry,
        notifier=notifier,
    )
    summary = loop.run(max_ticks=30)
    telemetry.close()  # the loop borrows the writer: whoever opened it closes it
    lines = (tmp_path / "t.jsonl").read_text().splitlines()
    assert len(lines) == 15
    import json

    record = json.loads(lines[1])
    assert record["tick"] == 2 and record["action"] == 0 and len(record["q"]) == 5
    assert record["stopped"] is None and len(record["obs"]) == 3
    messages = []
    while True:
        try:
            messages.append(server.recv(4096).decode())
        except TimeoutError:
            break
    server.close()
    notifier.close()
    joined = "\n".join(messages)
    assert messages[0].startswith("READY=1")
    assert "WATCHDOG=1" in joined and "STATUS=" in joined
    assert messages[-1].strip() == "STOPPING=1"
    assert summary["decisions"] == 30


def test_a_spec_without_motor_commands_is_refused(
    sim: tuple[Rig, SimProbeClock], bundle: Bundle
) -> None:
    rig, clock = sim
    abstract = TaskSpec(
        "CartPole-v1", bundle.spec.observation, ActionTable((Action("left"), Action("right")))
    )
    with pytest.raises(SpecMismatchError, match="have no motor commands"):
        ControlLoop(
            rig.hardware,
            GreedyDecider.for_spec(load_policy(bundle, "qtable"), abstract),
            abstract,
            FAST,
            clock=clock,
        )


def test_echo_trigger_pin_distance_round_trip(bundle: Bundle) -> None:
    rig = Rig(bundle, time.monotonic)
    try:
        trigger = rig.triggers[0]
        assert isinstance(trigger, EchoTriggerPin)
        trigger.distance_m = 0.5
        assert trigger.distance_m == pytest.approx(0.5)
    finally:
        rig.close()


def test_a_telemetry_write_error_disables_telemetry_not_the_robot(
    sim: tuple[Rig, SimProbeClock], bundle: Bundle
) -> None:
    rig, clock = sim
    # /dev/full accepts the open and fails every flush with ENOSPC: a full disk.
    telemetry = TelemetryWriter(TelemetryConfig(enabled=True, path=Path("/dev/full")))
    loop = ControlLoop(
        rig.hardware,
        GreedyDecider.for_spec(load_policy(bundle, "qtable"), bundle.spec),
        bundle.spec,
        FAST,
        clock=clock,
        telemetry=telemetry,
    )
    summary = loop.run(max_ticks=80)  # the 8 KiB write buffer first overflows after ~35 ticks
    assert summary["decisions"] == 80 and loop.telemetry is None
    telemetry.close()  # the loop closed the failed writer already: closing twice is safe


class Tracked(GreedyDecider):
    """The greedy decider, counting ``close`` calls."""

    closed = 0

    def close(self) -> None:
        self.closed += 1


def test_the_loop_closes_nothing_it_was_given(
    sim: tuple[Rig, SimProbeClock], bundle: Bundle, tmp_path: Path
) -> None:
    rig, clock = sim
    telemetry = TelemetryWriter(TelemetryConfig(enabled=True, path=tmp_path / "t.jsonl"))
    decider = Tracked.for_spec(load_policy(bundle, "qtable"), bundle.spec)
    loop = ControlLoop(rig.hardware, decider, bundle.spec, FAST, clock=clock, telemetry=telemetry)
    loop.run(max_ticks=3)
    assert isinstance(decider, Tracked) and decider.closed == 0
    telemetry.write({"after": "the run"})  # still open: its owner closes it
    telemetry.close()
    assert (tmp_path / "t.jsonl").read_text().splitlines()[-1] == '{"after":"the run"}'
    assert rig.motor_states() == STOPPED  # the motors, though, are always stopped at exit
