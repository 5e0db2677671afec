"""``robot bench``: decision latency per policy, and the loop's tick cost on simulated gpio.

The simulated hardware is gpiozero's own ``MockFactory``: PWM mock pins for the drive, and for
each HC-SR04 a mock trigger pin that answers every ping with an echo pulse, so the real
``DistanceSensor`` threads, the real ``Robot`` and the real loop run as on a Pi.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from gpiozero.pins.mock import MockFactory, MockPWMPin, MockTriggerPin

from robot.cli.exit_codes import EXIT_OK
from robot.config import (
    DistanceSensorConfig,
    DriveConfig,
    GpioConfig,
    LoopConfig,
    MotorPins,
    SupervisorConfig,
    TelemetryConfig,
)
from robot.control.clock import MonotonicClock
from robot.control.decider import Choice, GreedyDecider, motor_commands
from robot.control.loop import ControlLoop
from robot.control.supervisor import Supervisor
from robot.control.telemetry import TelemetryWriter
from robot.hardware.gpio import GpioHardware
from robot.inference.policy import Decision, available_policies, load_policy
from robot.runtime.backends import BackendOptions
from robot.systemd.process import rss_mb
from shared.bundle import Bundle, read_bundle

#: (trigger, echo) BCM pins of the simulated rangers, and the drive's IN1..IN4.
SENSOR_PINS = ((5, 6), (17, 27), (22, 23), (24, 25), (8, 7), (9, 10))
DRIVE_PINS = ((12, 16), (13, 19))
SPEED_OF_SOUND_M_S = 343.26  # what gpiozero's DistanceSensor assumes


class EchoTriggerPin(MockTriggerPin, MockPWMPin):
    """A mock HC-SR04 trigger pin on a PWM mock factory; ``distance_m`` sets the echo it sends.

    (gpiozero's ``MockTriggerPin`` is a plain ``MockPin``; a factory whose default pin class is
    ``MockPWMPin`` refuses to hand out a non-PWM pin again, hence the mix-in.)
    """

    def __init__(self, factory: Any, info: Any, echo_pin: Any = None, distance_m: float = 1.0):
        super().__init__(factory, info, echo_pin=echo_pin, echo_time=0.0)
        self.distance_m = distance_m
        #: While False the sensor hears nothing: no echo pulse at all.
        self.echo_enabled = True

    @property
    def distance_m(self) -> float:
        """The simulated obstacle distance in metres."""
        return self.echo_time * SPEED_OF_SOUND_M_S / 2.0

    @distance_m.setter
    def distance_m(self, value: float) -> None:
        self.echo_time = 2.0 * value / SPEED_OF_SOUND_M_S

    def _echo(self) -> None:
        if self.echo_enabled:
            super()._echo()


def simulated_gpio(
    channels: tuple[str, ...], distances_m: tuple[float, ...] | None = None
) -> tuple[MockFactory, GpioConfig, list[EchoTriggerPin]]:
    """A MockFactory wired like the reference robot, its GpioConfig, and the trigger pins."""
    if len(channels) > len(SENSOR_PINS):
        raise ValueError(f"at most {len(SENSOR_PINS)} simulated rangers, asked {len(channels)}")
    factory = MockFactory(pin_class=MockPWMPin)
    distances = distances_m or (1.0,) * len(channels)
    triggers = []
    sensors = []
    for (trigger, echo), channel, distance in zip(SENSOR_PINS, channels, distances, strict=False):
        echo_pin = factory.pin(echo)
        triggers.append(
            factory.pin(trigger, pin_class=EchoTriggerPin, echo_pin=echo_pin, distance_m=distance)
        )
        sensors.append(DistanceSensorConfig(channel, trigger, echo))
    (lf, lb), (rf, rb) = DRIVE_PINS
    drive = DriveConfig(
        "motor", MotorPins(forward=lf, backward=lb), MotorPins(forward=rf, backward=rb)
    )
    return factory, GpioConfig(tuple(sensors), (), None, drive), triggers


def decision_latency_us(
    bundle: Bundle, policy_name: str, decisions: int, seed: int = 0
) -> tuple[float, float, str]:
    """(p50, p99) µs of ``decide`` on random in-range observations, and the policy's line."""
    policy = load_policy(bundle, policy_name)
    rng = np.random.default_rng(seed)
    spec = bundle.spec.observation
    observations = rng.uniform(spec.lows, spec.highs, size=(decisions, spec.size)).astype(
        np.float32
    )
    for observation in observations[: min(200, decisions)]:  # warm-up
        policy.decide(observation)
    samples = np.empty(decisions)
    clock = time.perf_counter
    for i, observation in enumerate(observations):
        start = clock()
        policy.decide(observation)
        samples[i] = clock() - start
    p50, p99 = np.percentile(samples, [50, 99]) * 1e6
    return float(p50), float(p99), policy.describe()


def supervisor_cost_us(bundle: Bundle, ticks: int, rate_hz: float, seed: int = 0) -> dict:
    """The supervisor's work per tick (check, shield, history), in µs, on a stream that visits
    every path: open driving, an obstacle closing in to contact (the recovery), readings frozen
    while driving forward (no progress), and spins alternating (oscillation)."""
    spec = bundle.spec
    commands = motor_commands(spec)
    period = 1.0 / rate_hz
    settings = SupervisorConfig(stuck_retry_s=1.0)  # back to the policy soon: every path again
    supervisor = Supervisor(settings, commands, spec.observation.channels, period)
    rng = np.random.default_rng(seed)
    lows, highs = spec.observation.lows, spec.observation.highs
    turns = [i for i, c in enumerate(commands) if c.right - c.left != 0 and c.left + c.right <= 0]
    samples = np.empty(ticks)
    taken = 0
    values = list((lows + highs) / 2.0)
    clock = time.perf_counter
    for tick in range(ticks):
        phase = (tick * period) % 20.0  # a 20 s cycle of every path, whatever the rate
        if phase < 4.0 or phase >= 16.0:  # driving, the ranges wandering
            values = [
                float(np.clip(v + rng.normal(0, 0.02), lo, hi))
                for v, lo, hi in zip(values, lows, highs, strict=True)
            ]
        elif 12.0 <= phase < 13.2:  # an obstacle closing in, to a contact
            values = [max(float(lo), v - 0.05) for v, lo in zip(values, lows, strict=True)]
        elif 13.2 <= phase < 13.2 + period:
            values = [float(v) for v in (lows + highs) / 2.0]
        # 4..12 s: frozen while driving forward (no progress); 13.2..16 s: spins alternating
        q = rng.normal(size=len(commands))
        action = int(q.argmax())
        if 13.2 <= phase < 16.0 and turns:
            action = turns[tick % len(turns)]
        elif phase < 13.2:
            action = 0  # forward
        choice = Choice(commands[action], Decision(action, q))
        now = tick * period
        start = clock()
        takeover = supervisor.check(values, False, now)
        if takeover is None:
            choice = supervisor.shielded(choice, values)
            supervisor.driven(choice.command, now)
        samples[tick] = clock() - start
        taken += takeover is not None
    p50, p99, top = np.percentile(samples, [50, 99, 100]) * 1e6
    return {
        "p50": float(p50),
        "p99": float(p99),
        "max": float(top),
        "taken_share": taken / max(ticks, 1),
        "takeovers": supervisor.summary()["takeovers"],
    }


def telemetry_cost_us(records: int, directory: Path) -> dict[str, float]:
    """A telemetry record's write, in µs: a tick's record as the loop writes it, every tick,
    each handed to the OS at once (what keeps a crash from eating more than the tick in
    progress), to a file in ``directory``."""
    path = directory / "ticks.jsonl"
    writer = TelemetryWriter(TelemetryConfig(enabled=True, path=path, max_bytes=10**9))
    record = {
        "t_s": 123.456789, "tick": 0, "obs": [0.81234, 1.23456, 0.45678], "action": 2,
        "q": [1.12345, 2.23456, 3.34567, -0.45678, 0.56789], "compute_us": 180.5,
        "late_us": 95.2, "stopped": None, "overrun": False, "bumper": False, "supervisor": None,
    }  # fmt: skip
    samples = np.empty(records)
    clock = time.perf_counter
    try:
        for i in range(records):
            record["tick"] = i
            start = clock()
            writer.write(record)
            samples[i] = clock() - start
    finally:
        writer.close()
    p50, p99 = np.percentile(samples, [50, 99]) * 1e6
    return {"p50": float(p50), "p99": float(p99), "bytes": path.stat().st_size / records}


def tick_cost(
    bundle: Bundle,
    policy_name: str,
    ticks: int,
    rate_hz: float,
    *,
    sensor_threads: bool = True,
) -> dict[str, Any]:
    """Run the real loop on simulated gpio for ``ticks`` ticks; return its summary (+ RSS).

    ``sensor_threads=False`` measures the runtime alone: once every ranger has answered, the
    DistanceSensors' ping threads are stopped (and with them MockFactory's echo threads, one
    Python thread per ping, which real pins do not have), and the readings are held, so no
    other Python thread competes for the GIL. The age limit is lifted for that run only.
    """
    channels = bundle.spec.observation.names
    factory, config, _ = simulated_gpio(channels)
    clock = MonotonicClock()
    with GpioHardware(config, channels, clock=clock.now, pin_factory=factory) as hardware:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # let every ranger deliver its first echo
            if all(np.isfinite(hardware.snapshot().values)):
                break
            time.sleep(0.01)
        if not sensor_threads:
            for sensor in hardware.sensors.values():
                sensor._queue.stop()
        loop = ControlLoop(
            hardware,
            GreedyDecider.for_spec(load_policy(bundle, policy_name), bundle.spec),
            bundle.spec,
            LoopConfig(
                rate_hz=rate_hz,
                max_sensor_age_s=1.0 if sensor_threads else math.inf,
                max_consecutive_overruns=1000,
            ),
            supervisor=Supervisor.for_spec(SupervisorConfig(), bundle.spec, rate_hz),
        )
        summary = loop.run(max_ticks=ticks)
    factory.reset()
    summary["rss_mb"] = rss_mb()
    return summary


def run_bench(bundle: Bundle, decisions: int, ticks: int, rate_hz: float) -> list[str]:
    """The bench report, one line per figure."""
    lines = []
    policies = available_policies(bundle)
    for name in policies:
        p50, p99, describe = decision_latency_us(bundle, name, decisions)
        lines.append(f"decision {name:12s} p50 {p50:7.1f} µs  p99 {p99:7.1f} µs   ({describe})")
    if ticks > 0 and bundle.spec.actions.actions[0].motor is not None:
        cost = supervisor_cost_us(bundle, max(ticks, 10_000), rate_hz)
        lines.append(
            f"supervisor per tick p50 {cost['p50']:.1f} µs  p99 {cost['p99']:.1f} µs  max "
            f"{cost['max']:.1f} µs ({max(ticks, 10_000)} ticks, {cost['taken_share']:.0%} taken "
            f"over: {cost['takeovers']})"
        )
    if ticks > 0:
        with tempfile.TemporaryDirectory(prefix="sim2pi-bench-") as scratch:
            cost = telemetry_cost_us(max(ticks, 10_000), Path(scratch))
        lines.append(
            f"telemetry record p50 {cost['p50']:.1f} µs  p99 {cost['p99']:.1f} µs "
            f"({cost['bytes']:.0f} bytes, each handed to the OS as written; temp dir)"
        )
    if ticks > 0 and policies:
        for threads, what in ((True, "MockFactory"), (False, "MockFactory, ping threads stopped")):
            summary = tick_cost(bundle, policies[0], ticks, rate_hz, sensor_threads=threads)
            c, late = summary["tick_compute_us"], summary["lateness_us"]
            lines.append(
                f"loop on gpio+{what} ({policies[0]}, {ticks} ticks at {rate_hz} Hz): tick "
                f"compute p50 {c['p50']} µs p99 {c['p99']} µs; period jitter (lateness) p50 "
                f"{late['p50']} µs p99 {late['p99']} µs; {summary['overruns']} overruns; "
                f"achieved {summary['rate_hz']} Hz; RSS {summary['rss_mb']:.1f} MiB"
            )
    return lines


def cmd_bench(args: argparse.Namespace, options: BackendOptions) -> int:
    """``bench``: latency and tick-cost figures for a bundle (on its own simulated gpio)."""
    bundle = read_bundle(args.bundle)
    for line in run_bench(bundle, args.decisions, args.ticks, args.rate_hz):
        print(line, flush=True)
    return EXIT_OK
