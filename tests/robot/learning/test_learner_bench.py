"""The learning benchmark's harness (bench/shifted_learning.py) on the sim backend, tiny budgets."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.shifted_learning import (
    ANGLED,
    ANGLED_ONLY,
    LITERAL,
    MISMATCHED,
    NOMINAL,
    RunResult,
    bench_seed,
    delay_duties,
    eval_seeds,
    learning_curve,
    merge,
    report,
    room_seeds,
    run,
    run_rooms,
    shifted_world,
)
from robot.config import LearningConfig, SupervisorConfig, load_config
from robot.hardware.sim.backend import SimHardware, WorldClock
from shared.bundle import Bundle, read_bundle
from shared.spec import MotorCommand
from shared.world import ROBOT_RADIUS_M, Arena, Pose, World

ROOT = Path(__file__).resolve().parents[3]
GPIO = load_config(ROOT / "robot" / "examples" / "reference_gpio.toml").hardware


@pytest.fixture(scope="module")
def obstacle_bundle() -> Bundle:
    return read_bundle(ROOT / "tests" / "fixtures" / "obstacle_bundle")


def test_shifted_world_has_the_shift() -> None:
    world = shifted_world(GPIO, 3, LITERAL)
    assert world.drive.left_gain == world.drive.right_gain == 0.6
    assert world.drive.dead_band == pytest.approx(0.3)
    assert all(sensor.noise_std_m == pytest.approx(0.03) for sensor in world.sensors)
    nominal = shifted_world(GPIO, 3, NOMINAL)
    assert nominal.drive.left_gain == 1.0 and nominal.drive.dead_band == pytest.approx(0.15)
    assert repr(nominal.arena) == repr(world.arena)  # same seed, same arena: only the robot differs
    mismatched = shifted_world(GPIO, 3, MISMATCHED)
    assert mismatched.drive.right_gain == 0.6
    assert mismatched.drive.left_gain == pytest.approx(0.36)  # the left motor 40 % weaker
    assert mismatched.drive.dead_band == pytest.approx(0.3)


def test_angled_shift_turns_only_the_side_rangers_on_the_same_mount_circle() -> None:
    nominal = shifted_world(GPIO, 3, NOMINAL)
    angled = shifted_world(GPIO, 3, ANGLED)
    assert [round(math.degrees(s.angle_rad), 6) for s in nominal.sensors] == [45.0, 0.0, -45.0]
    assert [round(math.degrees(s.angle_rad), 6) for s in angled.sensors] == [25.0, 0.0, -25.0]
    for before, after in zip(nominal.sensors, angled.sensors, strict=True):
        assert math.hypot(after.x_m, after.y_m) == pytest.approx(math.hypot(before.x_m, before.y_m))
        assert math.atan2(after.y_m, after.x_m) == pytest.approx(after.angle_rad)
    assert angled.sensors[1] == replace(nominal.sensors[1], noise_std_m=0.03)
    # The literal shift's motors, noise and latency come with it; the arena and pose are the same.
    assert angled.drive.left_gain == angled.drive.right_gain == 0.6
    assert angled.drive.dead_band == pytest.approx(0.3) and ANGLED.latency_ticks == 1
    assert all(s.noise_std_m == pytest.approx(0.03) for s in angled.sensors)
    assert repr(angled.arena) == repr(nominal.arena) and angled.pose == nominal.pose
    only = shifted_world(GPIO, 3, ANGLED_ONLY)
    assert only.drive == nominal.drive and ANGLED_ONLY.latency_ticks == 0
    assert [s.angle_rad for s in only.sensors] == [s.angle_rad for s in angled.sensors]


def test_angled_side_rangers_miss_an_obstacle_beside_the_robot() -> None:
    # A post 0.3 m from the centre of a robot at the middle of an empty 4 m arena, 55 degrees to
    # its left: the simulator's left ranger (45 degrees) sees it, one at 25 degrees does not.
    bearing = math.radians(55.0)
    arena = Arena(
        4.0, 4.0, discs=np.array([[2 + 0.3 * math.cos(bearing), 2 + 0.3 * math.sin(bearing), 0.06]])
    )
    left = {}
    for shift in (NOMINAL, ANGLED_ONLY):
        sensors = shifted_world(GPIO, 3, replace(shift, noise_std_m=0.0)).sensors
        world = World(arena, np.random.default_rng(0), Pose(2.0, 2.0, 0.0), sensors=sensors)
        left[shift.name] = world.ranges_m()[0]
    assert left["nominal"] < 0.2
    assert left["angled_only"] > 1.5  # the far wall


def test_misreading_rangers_and_a_wider_body(obstacle_bundle: Bundle) -> None:
    shift = replace(
        NOMINAL, noise_std_m=0.0, range_offset_m=0.1, range_scale=1.2, radius_factor=1.3
    )
    world = shifted_world(GPIO, 4, shift)
    assert world.robot_radius_m == pytest.approx(1.3 * ROBOT_RADIUS_M)
    clock = WorldClock(world)
    hardware = SimHardware(GPIO, obstacle_bundle.spec.observation.names, clock)
    try:
        clock.advance(0.05)
        measured = np.array(hardware.snapshot().values)
        true = world.true_ranges_m()
        # The sim backend's echo pins time the misread range; the world's own ranges are true.
        assert measured == pytest.approx(np.minimum(1.2 * true + 0.1, 2.0), abs=0.005)
    finally:
        hardware.close()
    short = shifted_world(GPIO, 4, replace(NOMINAL, noise_std_m=0.0, range_offset_m=-5.0))
    assert short.echo_time_s(0) == pytest.approx(2 * 0.02 / 343.0)  # never below the minimum


def test_mismatched_motors_turn_forward_into_a_left_curve() -> None:
    headings = {}
    for shift in (LITERAL, MISMATCHED):
        world = shifted_world(GPIO, 3, shift)
        start = world.pose.heading_rad
        world.set_duties(0.8, 0.8)
        world.step(0.5)
        headings[shift.name] = world.pose.heading_rad - start
    assert abs(headings["literal"]) < 1e-9  # matched motors drive straight
    assert headings["mismatched"] > 0.3  # counter-clockwise: to the left, > 17 degrees in 0.5 s


def test_merge_and_eval_seeds() -> None:
    merged = merge([_result(1.0, 1), _result(0.0, 2)])
    assert merged.rewards.shape == (200,) and merged.collisions == 3
    assert merged.simulated_s == 120.0 and merged.distance_m == 20.0
    fresh = eval_seeds(2, 3)
    assert len(set(fresh)) == 3 and not set(fresh) & set(range(1, 100))  # never a learning seed


def test_emulated_latency_delays_the_pins_duties_by_one_step(obstacle_bundle: Bundle) -> None:
    clock = WorldClock(shifted_world(GPIO, 1, NOMINAL))
    hardware = SimHardware(GPIO, obstacle_bundle.spec.observation.names, clock)
    try:
        delay_duties(clock, 1)
        hardware.drive(MotorCommand(0.8, 0.4))
        clock.advance(0.05)
        assert clock.world.duties == (0.0, 0.0)  # the command has not reached the motors yet
        hardware.drive(MotorCommand(-0.5, 0.5))
        clock.advance(0.05)
        assert clock.world.duties == pytest.approx((0.8, 0.4))
        clock.advance(0.05)
        assert clock.world.duties == pytest.approx((-0.5, 0.5))
    finally:
        hardware.close()


def test_frozen_run_keeps_the_table_and_learning_changes_it(
    obstacle_bundle: Bundle, tmp_path: Path
) -> None:
    table = obstacle_bundle.load_qtable().astype(np.float64)
    learning = LearningConfig(state_dir=tmp_path, epsilon_start=0.5)
    common = {"shift": LITERAL, "values": table, "ticks": 300, "learning": learning, "seed": 2}
    frozen = run(obstacle_bundle, GPIO, shifted_world(GPIO, 2, LITERAL), learn=False, **common)
    learned = run(obstacle_bundle, GPIO, shifted_world(GPIO, 2, LITERAL), learn=True, **common)
    assert np.array_equal(frozen.values, table)
    assert frozen.learning["explored"] == 0 and frozen.rewards.shape == (300,)
    assert learned.learning["updates"] > 250 and learned.learning["explored"] > 50
    assert not np.array_equal(learned.values, table)
    assert frozen.simulated_s == pytest.approx(15.0, abs=0.1) and frozen.distance_m > 0.5


def test_rooms_carry_the_learning_state_from_one_room_to_the_next(
    obstacle_bundle: Bundle, tmp_path: Path
) -> None:
    table = obstacle_bundle.load_qtable().astype(np.float64)
    learning = LearningConfig(state_dir=tmp_path, epsilon_start=0.5)
    rooms = room_seeds(2, 3)
    assert room_seeds(2, 1) == [2]  # one room: the seed's own arena, as before
    assert len(set(rooms)) == 3 and not set(rooms) & set(eval_seeds(2, 50))
    common = {"values": table, "ticks_per_room": 150, "learning": learning, "seed": 2}
    learned = run_rooms(obstacle_bundle, GPIO, rooms, shift=LITERAL, learn=True, **common)
    assert learned.rewards.shape == (450,) and learned.simulated_s == pytest.approx(22.5, abs=0.2)
    # The last room's learner resumed from the snapshot the rooms before it saved at exit.
    state = learned.learning
    assert Path(state["source"]).name.startswith("qtable-") and state["source"].endswith(".snap")
    assert state["run_updates"] <= 150 and state["updates"] > 280
    assert not np.array_equal(learned.values, table)
    frozen = run_rooms(obstacle_bundle, GPIO, rooms, shift=LITERAL, learn=False, **common)
    assert np.array_equal(frozen.values, table) and frozen.learning["explored"] == 0


def test_with_the_greedy_shield_the_bundle_runs_without_it_and_under_it(
    obstacle_bundle: Bundle, tmp_path: Path
) -> None:
    learning = LearningConfig(state_dir=tmp_path, epsilon_start=0.5)
    common = {"learn_ticks": 200, "eval_ticks": 100, "eval_arenas": 1, "learn_rooms": 2}
    off = SupervisorConfig(shield_distance_m=0.0)
    plain = bench_seed(
        obstacle_bundle, GPIO, 3, learning=learning, supervisor=off, shift=ANGLED, **common
    )
    assert "unlearned_shielded" not in plain and "eval_shielded" not in plain
    shielded = SupervisorConfig(shield_distance_m=0.6)
    both = bench_seed(
        obstacle_bundle, GPIO, 3, learning=learning, supervisor=shielded, shift=ANGLED, **common
    )
    # The bundle's table without learning (the bar's comparison) is never shielded.
    for name in ("unlearned", "eval_nominal", "eval_shifted"):
        assert np.array_equal(both[name].rewards, plain[name].rewards), name
        assert both[name].learning["overridden"] == 0
    # Under the shield: the bundle's table unlearned, the learning, the learned table.
    for name in ("unlearned_shielded", "learning", "eval_shielded", "eval_learned_shielded"):
        assert both[name].learning["overridden"] > 0, name
    assert both["eval_learned"].learning["overridden"] == 0  # the table greedily, no shield
    assert np.array_equal(both["unlearned_shielded"].values, both["unlearned"].values)
    figures = report([both], episode_ticks=10)
    assert figures["collisions_per_min_unlearned_shielded"] == pytest.approx(
        60.0 * both["unlearned_shielded"].collisions / both["unlearned_shielded"].simulated_s
    )
    assert figures["return_shield_alone"] == pytest.approx(
        both["eval_shielded"].rewards.mean() * 10
    )
    (one,) = figures["per_seed"]
    assert one["collisions_eval_learned_shielded"] == both["eval_learned_shielded"].collisions
    assert "return_shield_alone" not in report([plain], episode_ticks=10)


def _result(reward_per_tick: float, collisions: int) -> RunResult:
    return RunResult(np.full(100, reward_per_tick), collisions, 60.0, 10.0, {}, np.zeros((1, 1)))


def test_report_measures_the_recovered_fraction_and_the_collision_bar() -> None:
    seed = {
        "seed": 1,
        "eval_nominal": _result(1.0, 0),
        "eval_shifted": _result(0.5, 2),
        "eval_learned": _result(0.8, 1),
        "unlearned": _result(0.5, 3),
        "learning": _result(0.6, 3),
    }
    figures = report([seed], episode_ticks=10)
    assert figures["return_nominal"] == pytest.approx(10.0)
    assert figures["recovered_fraction"] == pytest.approx(0.6)
    assert figures["collisions_per_min_during_learning"] == pytest.approx(3.0)
    assert figures["bar_met"] is True
    (one,) = figures["per_seed"]
    assert one["recovered_fraction"] == pytest.approx(0.6)
    assert one["collisions_during_learning"] == one["collisions_unlearned"] == 3
    seed["learning"] = _result(0.6, 4)  # more collisions while learning than without: fails
    assert report([seed], episode_ticks=10)["bar_met"] is False


def test_learning_curve_averages_windows_over_runs() -> None:
    curve = learning_curve([np.arange(10.0), np.arange(10.0) + 2], window_ticks=5, episode_ticks=2)
    assert curve == pytest.approx([2 * 3.0, 2 * 8.0])
