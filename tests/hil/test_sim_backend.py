"""The sim backend: gpiozero devices on mock pins wired to the simulated world."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from robot.config import load_config
from robot.errors import ConfigError
from robot.hardware.sim.backend import SimHardware, WorldClock, open_sim
from shared.spec import MotorCommand
from shared.world import Arena, Pose, World, reference_sensors

EXAMPLE = Path(__file__).resolve().parents[2] / "robot" / "examples" / "reference_gpio.toml"
CHANNELS = ("left_distance_m", "front_distance_m", "right_distance_m")
TICK_S = 0.05


def _world(noise_std_m: float = 0.0, seed: int = 0) -> World:
    arena = Arena(2.0, 2.0, np.empty((0, 3)), np.empty((0, 4)))
    sensors = reference_sensors(noise_std_m=noise_std_m)
    return World(arena, np.random.default_rng(seed), Pose(1.0, 1.0, 0.0), sensors=sensors)


@pytest.fixture
def sim() -> SimHardware:
    config = load_config(EXAMPLE).hardware
    assert config is not None
    clock = WorldClock(_world())
    hardware = SimHardware(config, CHANNELS, clock)
    yield hardware
    hardware.close()


def test_readings_match_the_world_exactly_without_noise(sim: SimHardware) -> None:
    clock_s = sim.world.time_s
    snapshot = sim.snapshot()
    world = [min(r, 2.0) for r in sim.world.ranges_m()]
    # gpiozero's DistanceSensor measured the pulse on simulated time: float rounding only.
    assert snapshot.values == pytest.approx(world, abs=1e-9)
    assert snapshot.read_at_s == (clock_s, clock_s, clock_s)
    assert snapshot.bumper is False


def test_readings_match_the_world_within_noise() -> None:
    config = load_config(EXAMPLE).hardware
    clock = WorldClock(_world(noise_std_m=0.01, seed=3))
    with SimHardware(config, CHANNELS, clock) as sim:
        errors = []
        for _ in range(60):
            clock.advance(TICK_S)
            snapshot = sim.snapshot()
            # The newest echo is the median of the last three pings: compare with the true range.
            errors.extend(np.array(snapshot.values) - np.minimum(sim.world.true_ranges_m(), 2.0))
        errors = np.array(errors)
        assert np.all(np.abs(errors) < 5 * 0.01), errors
        assert abs(errors.mean()) < 0.01


def test_pwm_pins_drive_the_world_and_stop_halts_it(sim: SimHardware) -> None:
    start = sim.world.pose
    sim.drive(MotorCommand(0.6, 0.6))
    clock_s = sim.world.time_s
    _step(sim, 1.0)
    assert sim.world.duties == (0.6, 0.6)
    moved_m = math.dist((start.x_m, start.y_m), (sim.world.pose.x_m, sim.world.pose.y_m))
    assert moved_m > 0.1
    assert sim.world.time_s == pytest.approx(clock_s + 1.0)
    sim.drive(MotorCommand(-0.5, 0.5))
    _step(sim, TICK_S)
    assert sim.world.duties == (-0.5, 0.5)
    sim.stop()
    _step(sim, TICK_S)
    assert sim.world.duties == (0.0, 0.0)
    sim.close()
    _step(sim, TICK_S)
    assert sim.world.duties == (0.0, 0.0)


def test_bumper_pin_follows_contact() -> None:
    config = load_config(EXAMPLE).hardware
    clock = WorldClock(_world())
    with SimHardware(config, CHANNELS, clock) as sim:
        sim.drive(MotorCommand(1.0, 1.0))
        pressed_at = None
        for tick in range(200):
            clock.advance(TICK_S)
            if sim.snapshot().bumper:
                pressed_at = tick
                break
        assert pressed_at is not None, "drove 10 s straight at a wall without a bump"
        assert sim.world.bumper_pressed
        assert sim.snapshot().values[1] < 0.1  # the front ranger sees the wall


def test_same_seed_same_run() -> None:
    config = load_config(EXAMPLE).hardware

    def run() -> list[tuple[float, ...]]:
        clock = WorldClock(_world(noise_std_m=0.02, seed=7))
        with SimHardware(config, CHANNELS, clock) as sim:
            out = []
            for tick in range(40):
                sim.drive(MotorCommand(0.5, 0.3 if tick % 10 < 5 else 0.6))
                clock.advance(TICK_S)
                out.append(sim.snapshot().values)
            return out

    assert run() == run()


def _step(sim: SimHardware, seconds: float) -> None:
    sim.clock.advance(seconds)


SIM_EXAMPLE = EXAMPLE.with_name("reference_sim.toml")


def test_sim_example_config_opens_a_seeded_world() -> None:
    config = load_config(SIM_EXAMPLE)
    assert config.hardware.backend == "sim"
    assert config.hardware.channel_names() == CHANNELS
    sim_config = config.hardware
    first = open_sim(sim_config, CHANNELS)
    second = open_sim(sim_config, CHANNELS)
    with first, second:
        assert first.world.pose == second.world.pose
        assert first.world.arena.width_m == sim_config.arena_m
        assert first.world.clearance_m > 0.3
        assert first.snapshot().values == second.snapshot().values


def test_sim_config_rejects_bad_values(tmp_path: Path) -> None:
    text = SIM_EXAMPLE.read_text().replace("noise_std_m = 0.01", "noise_std_m = -1.0")
    bad = tmp_path / "robot.toml"
    bad.write_text(text.replace('"../../tests', f'"{EXAMPLE.parents[2]}/tests'))
    with pytest.raises(ConfigError, match="noise_std_m"):
        load_config(bad)


def test_a_failing_setup_raises_its_own_error_not_one_from_close() -> None:
    # A channel list the config does not feed fails inside the gpio setup, which closes the
    # half-opened hardware; the caller must see that error, not an AttributeError from close().
    config = load_config(EXAMPLE).hardware
    assert config is not None
    with pytest.raises(Exception) as caught:
        SimHardware(config, ("no_such_channel",), WorldClock(_world()))
    assert not isinstance(caught.value, AttributeError), caught.value


def test_opening_the_sim_backend_hands_over_the_worlds_clock() -> None:
    # The loop must run on the world's simulated time: what opening the backend returns says so.
    from robot.control.clock import MonotonicClock
    from robot.runtime.backends import open_backend
    from robot.runtime.compose import open_bundle

    config = load_config(SIM_EXAMPLE)
    real = MonotonicClock()
    with open_backend(config, open_bundle(config), real) as backend:
        assert isinstance(backend.hardware, SimHardware)
        assert isinstance(backend.clock, WorldClock) and backend.clock is backend.hardware.clock
        before_s = backend.clock.now()
        backend.clock.advance(TICK_S)  # waiting on it steps the world
        assert backend.hardware.world.time_s == pytest.approx(before_s + TICK_S)
