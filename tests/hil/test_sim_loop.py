"""The runtime's control loop on the sim backend: the fixture bundle drives the simulated robot.

Pi-only: numpy, gpiozero and the bundle's Q-table (no TensorFlow, no Gymnasium).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest

from robot.config import LoopConfig, load_config
from robot.control.decider import GreedyDecider
from robot.control.loop import ControlLoop
from robot.hardware.sim.backend import SimHardware, WorldClock
from robot.inference.policy import load_policy
from shared.bundle import read_bundle
from shared.world import Arena, Pose, World, reference_sensors

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "tests" / "fixtures" / "obstacle_bundle"
EXAMPLE = ROOT / "robot" / "examples" / "reference_gpio.toml"
TICKS = 2000  # 100 simulated seconds at 20 Hz


def _world(seed: int) -> World:
    rng = np.random.default_rng(seed)
    arena = Arena.random(rng, width_m=4.0, height_m=4.0, obstacles=6)
    for _ in range(1000):
        pose = Pose(*rng.uniform((0.3, 0.3, -np.pi), (3.7, 3.7, np.pi)))
        if arena.clearance_m(pose.x_m, pose.y_m, 0.1) > 0.3:
            sensors = reference_sensors(noise_std_m=0.01)
            return World(arena, rng, pose, sensors=sensors)
    raise AssertionError("no free start pose")


class _Counter:
    """Counts the world's steps and the steps that ended in a collision."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.steps = 0
        self.collisions = 0

    def __call__(self) -> None:
        self.steps += 1
        self.collisions += int(self.world.collided)


def _run(seed: int, ticks: int, policy_name: str = "qtable") -> tuple[dict, SimHardware, _Counter]:
    bundle = read_bundle(BUNDLE)
    policy = load_policy(bundle, policy_name)
    gpio = load_config(EXAMPLE).hardware
    clock = WorldClock(_world(seed))
    counter = _Counter(clock.world)
    clock.after_step.append(counter)
    hardware = SimHardware(gpio, bundle.spec.observation.names, clock)
    loop = ControlLoop(
        hardware,
        GreedyDecider.for_spec(policy, bundle.spec),
        bundle.spec,
        LoopConfig(rate_hz=20.0),
        clock=clock,
    )
    try:
        summary = loop.run(max_ticks=ticks)
        # One more step of the world reads the duties the pins hold after the loop's exit.
        clock.advance(1.0 / 20.0)
    finally:
        hardware.close()
    return summary, hardware, counter


@pytest.mark.slow
def test_fixture_bundle_roams_the_simulated_arena_faster_than_real_time() -> None:
    started = time.perf_counter()
    summary, hardware, counter = _run(seed=1, ticks=TICKS)
    wall_s = time.perf_counter() - started
    world = hardware.world
    simulated_s = world.time_s
    assert summary["ticks"] == TICKS, summary
    assert simulated_s == pytest.approx(TICKS / 20.0, rel=0.01)
    assert world.distance_travelled_m > 10.0, "the robot hardly moved"
    # Measured: 0 collision steps and ~48 m in 100 s on seeds 1-3; 5 % leaves room for noise.
    assert counter.collisions / counter.steps < 0.05, (counter.collisions, counter.steps)
    assert wall_s < simulated_s, f"{wall_s:.1f} s wall for {simulated_s:.1f} s simulated"
    assert world.duties == (0.0, 0.0), "the loop's exit did not stop the motors"


def test_same_seed_same_trajectory() -> None:
    first = _run(seed=2, ticks=200)[1].world.pose
    second = _run(seed=2, ticks=200)[1].world.pose
    assert first == second


def test_policy_exception_stops_the_motors_within_a_tick(caplog: pytest.LogCaptureFixture) -> None:
    bundle = read_bundle(BUNDLE)
    policy = load_policy(bundle, "qtable")
    method = "decide"
    gpio = load_config(EXAMPLE).hardware
    clock = WorldClock(_world(3))
    hardware = SimHardware(gpio, bundle.spec.observation.names, clock)
    duties_at_fault: list[tuple[float, float]] = []
    real = getattr(policy, method)
    calls = {"n": 0}

    def flaky(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 50:
            raise RuntimeError("injected policy fault")
        return real(*args, **kwargs)

    def watch() -> None:
        if calls["n"] == 50 and not duties_at_fault:
            duties_at_fault.append(hardware.world.duties)

    setattr(policy, method, flaky)
    clock.after_step.append(watch)
    loop = ControlLoop(
        hardware,
        GreedyDecider.for_spec(policy, bundle.spec),
        bundle.spec,
        LoopConfig(rate_hz=20.0),
        clock=clock,
    )
    with caplog.at_level(logging.WARNING):
        try:
            summary = loop.run(max_ticks=100)
        finally:
            hardware.close()
    # The next world step after the raising tick ran with the motors stopped.
    assert duties_at_fault == [(0.0, 0.0)]
    assert "injected policy fault" in caplog.text
    assert summary["ticks"] == 100  # the loop recovered and went on
    assert calls["n"] > 50
