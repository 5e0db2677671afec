"""Fault injection on the running loop over sim hardware: motors stopped within one tick."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from robot.config import LoopConfig, SimConfig, load_config
from robot.control.decider import GreedyDecider
from robot.control.loop import ControlLoop
from robot.hardware.sim.backend import SimHardware, WorldClock, build_world
from robot.inference.policy import load_policy
from shared.bundle import read_bundle

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "tests" / "fixtures" / "obstacle_bundle"
SIM_EXAMPLE = ROOT / "robot" / "examples" / "reference_sim.toml"
TICK_S = 0.05


def _loop(seed: int) -> tuple[ControlLoop, SimHardware, WorldClock]:
    bundle = read_bundle(BUNDLE)
    gpio = load_config(SIM_EXAMPLE).hardware.gpio
    clock = WorldClock(build_world(SimConfig(gpio=gpio, seed=seed)))
    hardware = SimHardware(gpio, bundle.spec.observation.names, clock)
    config = LoopConfig(rate_hz=20.0, max_sensor_age_s=0.3)
    loop = ControlLoop(
        hardware,
        GreedyDecider.for_spec(load_policy(bundle, "qtable"), bundle.spec),
        bundle.spec,
        config,
        clock=clock,
    )
    return loop, hardware, clock


def _duties_log(clock: WorldClock) -> list[tuple[float, tuple[float, float]]]:
    """Record (time, duties) of every world step, as the motors ran during it."""
    log: list[tuple[float, tuple[float, float]]] = []
    clock.after_step.append(lambda: log.append((clock.world.time_s, clock.world.duties)))
    return log


def test_sensor_that_stops_answering_stops_the_motors_then_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop, hardware, clock = _loop(seed=4)
    log = _duties_log(clock)
    front = hardware.sensors["front_distance_m"]
    real_read = front._read
    silent = {"from_s": 2.0, "to_s": 3.0}

    def read() -> float | None:
        # The echo never comes (a cut wire): gpiozero returns None, the reading goes stale.
        if silent["from_s"] <= clock.now() < silent["to_s"]:
            return None
        return real_read()

    front._read = read
    with caplog.at_level(logging.WARNING):
        try:
            loop.run(max_ticks=100)
        finally:
            hardware.close()
    stale_from_s = silent["from_s"] + 0.3  # max_sensor_age_s after the last echo
    stopped = [d for t, d in log if stale_from_s + 2 * TICK_S <= t <= silent["to_s"]]
    assert stopped and all(d == (0.0, 0.0) for d in stopped), stopped
    assert any(d != (0.0, 0.0) for t, d in log if t > silent["to_s"] + 2 * TICK_S), "no recovery"
    assert "front_distance_m" in caplog.text


def test_clock_stall_overruns_stop_the_motors(caplog: pytest.LogCaptureFixture) -> None:
    loop, hardware, clock = _loop(seed=5)
    log = _duties_log(clock)
    policy = loop.decider.policy  # type: ignore[attr-defined]
    real_decide = policy.decide
    calls = {"n": 0}

    def slow_decide(observation):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if 40 <= calls["n"] < 46:
            clock.advance(0.2)  # the tick stalls 4 periods: a deadline overrun each time
        return real_decide(observation)

    policy.decide = slow_decide  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        try:
            summary = loop.run(max_ticks=100)
        finally:
            hardware.close()
    assert summary["overruns"] >= 3, summary
    assert "overrun" in caplog.text
    assert any(d == (0.0, 0.0) for _, d in log[40:80]), "overruns did not stop the motors"
    assert any(d != (0.0, 0.0) for _, d in log[-10:]), "the loop did not recover"
