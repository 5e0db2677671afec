"""shared.world: geometry, collisions, the motor model, sensors and determinism (numpy only)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shared.errors import SpecError
from shared.world import (
    CONTACT_TOLERANCE_M,
    HC_SR04_MIN_RANGE_M,
    MAX_WHEEL_SPEED_RAD_S,
    MOTOR_DEAD_BAND,
    MOTOR_TIME_CONSTANT_S,
    SPEED_OF_SOUND_M_S,
    WHEEL_BASE_M,
    WHEEL_RADIUS_M,
    Arena,
    DriveParams,
    LineSensor,
    Pose,
    UltrasonicSensor,
    World,
    distance_from_echo_m,
    echo_time_s,
    reference_sensors,
    turned_side_ranger,
)

EMPTY = Arena(3.0, 3.0)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def run(world: World, left: float, right: float, seconds: float, dt_s: float = 0.05) -> None:
    world.set_duties(left, right)
    for _ in range(round(seconds / dt_s)):
        world.step(dt_s)


# --- echo timing ---------------------------------------------------------------------------------


def test_echo_time_is_the_round_trip_at_the_speed_of_sound() -> None:
    assert SPEED_OF_SOUND_M_S == 343.0
    assert echo_time_s(1.0) == pytest.approx(2.0 / 343.0)
    assert echo_time_s(2.0) == pytest.approx(0.011662, abs=1e-6)  # 11.7 ms for 2 m
    for distance in (0.02, 0.5, 1.234, 4.0):
        assert distance_from_echo_m(echo_time_s(distance)) == pytest.approx(distance)


def test_world_echo_time_matches_its_reading() -> None:
    world = World(EMPTY, rng(), Pose(1.0, 1.5, 0.0))
    for index, reading in enumerate(world.ranges_m()):
        assert reading is not None
        assert world.echo_time_s(index) == pytest.approx(2.0 * reading / 343.0)


# --- ray casts against hand-computed cases -------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "angle_deg", "expected_m"),
    [
        (1.0, 1.0, 0.0, 2.0),  # to the right wall at x = 3
        (1.0, 1.0, 90.0, 2.0),  # to the top wall at y = 3
        (1.0, 1.0, 180.0, 1.0),  # to the left wall at x = 0
        (1.0, 0.5, -90.0, 0.5),  # to the bottom wall
        (1.0, 1.0, 45.0, 2.0 * math.sqrt(2.0)),  # into the corner (3, 3)
        (2.0, 1.0, 45.0, math.sqrt(2.0)),  # right wall first: x reaches 3 after √2
    ],
)
def test_ray_to_the_walls(x: float, y: float, angle_deg: float, expected_m: float) -> None:
    assert EMPTY.cast_ray_m(x, y, math.radians(angle_deg)) == pytest.approx(expected_m)


def test_ray_to_discs() -> None:
    arena = Arena(4.0, 3.0, discs=[[2.0, 1.0, 0.5]])
    assert arena.cast_ray_m(0.5, 1.0, 0.0) == pytest.approx(1.0)  # head-on: 2 - 0.5 - 0.5
    # 0.3 m off-axis: the ray meets the circle at x = 2 - sqrt(0.5² - 0.3²) = 1.6.
    arena_off = Arena(4.0, 3.0, discs=[[2.0, 1.3, 0.5]])
    assert arena_off.cast_ray_m(0.5, 1.0, 0.0) == pytest.approx(1.1)
    # Tangent: the ray grazes the disc at x = 2.
    arena_tangent = Arena(4.0, 3.0, discs=[[2.0, 1.5, 0.5]])
    assert arena_tangent.cast_ray_m(0.5, 1.0, 0.0) == pytest.approx(1.5)
    # Just past the tangent it misses and reaches the wall at x = 4.
    arena_miss = Arena(4.0, 3.0, discs=[[2.0, 1.5001, 0.5]])
    assert arena_miss.cast_ray_m(0.5, 1.0, 0.0) == pytest.approx(3.5)
    # Pointing away from the disc: the wall behind.
    assert arena.cast_ray_m(0.5, 1.0, math.pi) == pytest.approx(0.5)
    # From inside a disc: zero.
    assert arena.cast_ray_m(2.1, 1.0, 0.0) == 0.0


def test_ray_to_boxes() -> None:
    arena = Arena(4.0, 3.0, boxes=[[2.0, 0.5, 2.5, 1.5]])
    assert arena.cast_ray_m(0.5, 1.0, 0.0) == pytest.approx(1.5)
    assert arena.cast_ray_m(3.5, 1.0, math.pi) == pytest.approx(1.0)  # the far face at 2.5
    assert arena.cast_ray_m(2.25, 2.5, -math.pi / 2) == pytest.approx(1.0)  # top face at 1.5
    # Diagonal into the corner (2, 0.5) from (1, -0.5)... from (1.5, 0) at 45°: hits x = 2 at
    # y = 0.5, the corner itself, after √2 × 0.5.
    assert arena.cast_ray_m(1.5, 0.0, math.pi / 4) == pytest.approx(math.sqrt(2.0) * 0.5)
    # Passing above the box (y = 1.6): the right wall.
    assert arena.cast_ray_m(0.5, 1.6, 0.0) == pytest.approx(3.5)
    # Inside the box: zero.
    assert arena.cast_ray_m(2.2, 1.0, 1.0) == 0.0


def test_sensor_cone_sees_off_axis_obstacles_that_a_single_ray_misses() -> None:
    # A 2 cm post 7.2° off the sensor's axis at 1 m: inside the HC-SR04's ±7.5° cone.
    bearing = math.radians(7.2)
    post = Arena(4.0, 4.0, discs=[[1.0 + math.cos(bearing), 2.0 + math.sin(bearing), 0.01]])
    cone = UltrasonicSensor("front", 0.0, 0.0, 0.0)
    pencil = UltrasonicSensor("front", 0.0, 0.0, 0.0, rays=1)
    seen = World(post, rng(), Pose(1.0, 2.0, 0.0), sensors=[cone], robot_radius_m=0.05)
    missed = World(post, rng(), Pose(1.0, 2.0, 0.0), sensors=[pencil], robot_radius_m=0.05)
    assert seen.distance_m(0) == pytest.approx(0.99, abs=0.01)
    assert missed.distance_m(0) == pytest.approx(3.0)


# --- collisions at the exact boundary ------------------------------------------------------------


def test_clearance_is_zero_exactly_at_contact() -> None:
    arena = Arena(2.0, 2.0, discs=[[1.0, 1.0, 0.2]], boxes=[[0.2, 1.5, 0.6, 1.8]])
    assert arena.clearance_m(0.1, 0.5, 0.1) == pytest.approx(0.0, abs=1e-15)  # left wall
    assert arena.clearance_m(1.3, 1.0, 0.1) == pytest.approx(0.0, abs=1e-15)  # disc
    assert arena.clearance_m(0.4, 1.4, 0.1) == pytest.approx(0.0, abs=1e-15)  # box bottom face
    corner = 0.1 / math.sqrt(2.0)
    assert arena.clearance_m(0.6 + corner, 1.5 - corner, 0.1) == pytest.approx(0.0, abs=1e-12)
    assert arena.clearance_m(0.4, 1.6, 0.1) == pytest.approx(-0.2)  # centre inside: depth + r


def test_a_start_pose_touching_a_surface_is_a_collision_but_a_hair_away_is_free() -> None:
    with pytest.raises(SpecError, match="overlaps a wall or obstacle"):
        World(EMPTY, rng(), Pose(0.1, 1.5, 0.0))  # radius 0.1 m: touching the left wall
    world = World(EMPTY, rng(), Pose(0.1 + 1e-9, 1.5, 0.0))
    assert world.clearance_m == pytest.approx(1e-9)
    assert world.in_contact


def test_driving_into_a_wall_stops_at_the_surface_and_reports_a_collision() -> None:
    world = World(EMPTY, rng(), Pose(2.5, 1.5, 0.0))  # facing the right wall, 0.4 m gap
    world.set_duties(0.8, 0.8)
    clearances = []
    for _ in range(60):
        world.step(0.05)
        clearances.append(world.clearance_m)
        if world.collided:
            break
    assert world.collided
    assert min(clearances) > 0.0  # never inside the wall
    assert 0.0 < world.clearance_m <= 1e-5  # bisection stops within micrometres of the wall
    assert world.pose.x_m == pytest.approx(3.0 - 0.1, abs=1e-5)
    assert world.in_contact
    assert world.bumper_pressed
    # Still pushing: still colliding; spinning in place (once the forward creep of the lag has
    # died out) touches but does not collide.
    world.step(0.05)
    assert world.collided
    run(world, -0.6, 0.6, 3.0)
    assert not world.collided
    assert world.clearance_m <= CONTACT_TOLERANCE_M


def test_collision_at_the_exact_boundary_of_a_motion() -> None:
    # The motion is deterministic, so with a known travel the wall can be put a tenth of a
    # micrometre beyond its end (no collision) or before it (collision).
    probe = World(Arena(10.0, 3.0), rng(), Pose(1.0, 1.5, 0.0))
    run(probe, 0.8, 0.8, 0.5)
    travel = probe.pose.x_m - 1.0
    for gap, hits in ((travel + 1e-7, False), (travel - 1e-7, True)):
        arena = Arena(1.1 + gap, 3.0)  # the right wall's gap to the body is `gap`
        world = World(arena, rng(), Pose(1.0, 1.5, 0.0))
        assert world.clearance_m == pytest.approx(gap)
        world.set_duties(0.8, 0.8)
        collided = False
        for _ in range(10):
            world.step(0.05)
            collided |= world.collided
        assert collided is hits, f"gap {gap}"
        assert world.clearance_m > 0.0


def test_bumper_only_covers_the_front() -> None:
    world = World(EMPTY, rng(), Pose(2.5, 1.5, math.pi))  # back to the right wall
    run(world, -0.8, -0.8, 2.0)  # reverse into it
    assert world.in_contact
    assert not world.bumper_pressed


def test_obstacles_block_like_walls() -> None:
    arena = Arena(3.0, 3.0, discs=[[2.0, 1.5, 0.2]], boxes=[[1.0, 0.2, 1.4, 0.6]])
    world = World(arena, rng(), Pose(1.0, 1.5, 0.0))
    run(world, 0.8, 0.8, 2.0)
    assert world.pose.x_m == pytest.approx(2.0 - 0.2 - 0.1, abs=1e-5)
    world = World(arena, rng(), Pose(1.2, 1.5, -math.pi / 2))
    run(world, 0.8, 0.8, 2.0)
    assert world.pose.y_m == pytest.approx(0.6 + 0.1, abs=1e-5)
    assert world.bumper_pressed


# --- the motor model -----------------------------------------------------------------------------


def test_steady_state_speed_follows_the_duty_above_the_dead_band() -> None:
    world = World(Arena(50.0, 3.0), rng(), Pose(1.0, 1.5, 0.0))
    run(world, 0.8, 0.8, 20 * MOTOR_TIME_CONSTANT_S)
    expected_rad_s = (0.8 - MOTOR_DEAD_BAND) / (1.0 - MOTOR_DEAD_BAND) * MAX_WHEEL_SPEED_RAD_S
    left, right = world.wheel_speeds_rad_s
    assert left == pytest.approx(expected_rad_s, rel=1e-6)
    assert right == pytest.approx(expected_rad_s, rel=1e-6)
    # TT motor, 200 rpm at 6 V on 33 mm wheels: 0.69 m/s at full duty, 0.53 m/s at 0.8.
    assert world.drive.steady_speed_m_s(1.0, 1.0) == pytest.approx(0.691, abs=0.001)
    speed = world.drive.steady_speed_m_s(0.8, 0.8)
    assert world.forward_speed_m_s == pytest.approx(speed)
    x0 = world.pose.x_m
    run(world, 0.8, 0.8, 1.0)
    assert world.pose.x_m - x0 == pytest.approx(speed * 1.0, rel=1e-6)


def test_first_order_lag_reaches_63_percent_after_one_time_constant() -> None:
    drive = DriveParams()
    target = drive.target_wheel_speed_rad_s(1.0)
    world = World(Arena(50.0, 3.0), rng(), Pose(1.0, 1.5, 0.0), drive=drive)
    world.set_duties(1.0, 1.0)
    world.step(MOTOR_TIME_CONSTANT_S)
    assert world.wheel_speeds_rad_s[0] == pytest.approx(target * (1 - math.exp(-1)), rel=1e-9)
    # Distance is the exact integral of the lagged speed: v (t - τ (1 - e^(-t/τ))).
    tau = MOTOR_TIME_CONSTANT_S
    expected_m = target * WHEEL_RADIUS_M * (tau - tau * (1 - math.exp(-1)))
    assert world.pose.x_m - 1.0 == pytest.approx(expected_m, rel=1e-9)
    # The sub-step does not matter for the speed: one 0.1 s step or ten 0.01 s steps.
    fine = World(Arena(50.0, 3.0), rng(), Pose(1.0, 1.5, 0.0), physics_dt_s=0.001)
    fine.set_duties(1.0, 1.0)
    fine.step(MOTOR_TIME_CONSTANT_S)
    assert fine.wheel_speeds_rad_s[0] == pytest.approx(world.wheel_speeds_rad_s[0], rel=1e-9)


def test_dead_band_and_gain() -> None:
    world = World(EMPTY, rng(), Pose(1.5, 1.5, 0.0))
    run(world, MOTOR_DEAD_BAND, -MOTOR_DEAD_BAND * 0.5, 1.0)
    assert world.wheel_speeds_rad_s == (0.0, 0.0)
    assert world.pose == Pose(1.5, 1.5, 0.0)
    drive = DriveParams(left_gain=0.5)
    assert drive.target_wheel_speed_rad_s(1.0, drive.left_gain) == pytest.approx(
        MAX_WHEEL_SPEED_RAD_S / 2
    )
    assert drive.target_wheel_speed_rad_s(-1.0) == pytest.approx(-MAX_WHEEL_SPEED_RAD_S)
    with pytest.raises(SpecError, match=r"dead_band.*found 1\.0"):
        DriveParams(dead_band=1.0)


def test_spinning_turns_in_place_at_the_differential_drive_rate() -> None:
    world = World(EMPTY, rng(), Pose(1.5, 1.5, 0.0))
    run(world, -0.6, 0.6, 2.0)  # lag settled
    heading0 = world.pose.heading_rad
    run(world, -0.6, 0.6, 0.5)
    rate = 2 * DriveParams().target_wheel_speed_rad_s(0.6) * WHEEL_RADIUS_M / WHEEL_BASE_M
    turned = (world.pose.heading_rad - heading0) % (2 * math.pi)
    assert turned == pytest.approx((rate * 0.5) % (2 * math.pi), rel=1e-6)
    assert (world.pose.x_m, world.pose.y_m) == pytest.approx((1.5, 1.5), abs=1e-12)


def test_veering_drives_a_circle_back_to_its_start() -> None:
    drive = DriveParams(time_constant_s=1e-6)  # no lag: a constant arc from the first instant
    world = World(Arena(10.0, 10.0), rng(), Pose(5.0, 3.0, 0.0), drive=drive)
    left = drive.target_wheel_speed_rad_s(0.4) * WHEEL_RADIUS_M
    right = drive.target_wheel_speed_rad_s(0.8) * WHEEL_RADIUS_M
    period_s = 2 * math.pi * WHEEL_BASE_M / (right - left)
    world.set_duties(0.4, 0.8)
    world.step(period_s)
    assert (world.pose.x_m, world.pose.y_m) == pytest.approx((5.0, 3.0), abs=1e-6)
    radius_m = WHEEL_BASE_M / 2 * (right + left) / (right - left)
    world.step(period_s / 2)  # half a lap: on the far side of the circle
    assert world.pose.y_m == pytest.approx(3.0 + 2 * radius_m, abs=1e-6)


# --- sensors -------------------------------------------------------------------------------------


def test_readings_are_the_distance_from_each_sensor_to_the_wall() -> None:
    world = World(EMPTY, rng(), Pose(1.0, 1.5, 0.0))
    left, front, right = world.ranges_m()
    assert front == pytest.approx(3.0 - 1.0 - 0.08)  # sensor mounted 8 cm ahead of the centre
    assert left == pytest.approx(right)  # symmetric about the heading
    assert [s.name for s in world.sensors] == ["left", "front", "right"]


def test_dropout_and_out_of_range_read_none() -> None:
    dropping = World(EMPTY, rng(), Pose(1.0, 1.5, 0.0), sensors=reference_sensors(dropout_prob=1))
    assert dropping.ranges_m() == (None, None, None)
    assert dropping.echo_time_s(1) is None
    far = World(Arena(10.0, 3.0), rng(), Pose(1.0, 1.5, 0.0))
    assert far.distance_m(1) is None  # 8.9 m is beyond the HC-SR04's 4 m
    assert far.true_ranges_m()[1] == pytest.approx(8.92)


def test_noise_is_gaussian_with_the_given_sigma_and_clamped_at_minimum_range() -> None:
    world = World(EMPTY, rng(3), Pose(1.0, 1.5, 0.0), sensors=reference_sensors(noise_std_m=0.01))
    readings = []
    for _ in range(2000):
        world.step(0.05)
        readings.append(world.distance_m(1))
    assert np.mean(readings) == pytest.approx(1.92, abs=0.002)
    assert np.std(readings) == pytest.approx(0.01, rel=0.1)
    close = World(EMPTY, rng(), Pose(2.905, 1.5, 0.0), robot_radius_m=0.09)
    assert close.true_ranges_m()[1] == pytest.approx(0.015)
    assert close.distance_m(1) == HC_SR04_MIN_RANGE_M


def test_same_seed_same_readings_and_pose() -> None:
    def trace(seed: int) -> list[tuple]:
        arena = Arena.random(rng(seed), obstacles=4)
        world = World(arena, rng(seed), Pose(1.5, 1.5, 0.3), sensors=reference_sensors(0.01, 0.2))
        out = []
        for tick in range(100):
            world.set_duties(0.8, 0.4 if tick % 20 < 10 else 0.8)
            world.step(0.05)
            out.append((world.ranges_m(), world.pose))
        return out

    assert trace(5) == trace(5)
    assert trace(5) != trace(6)


def test_line_sensor_sees_floor_lines() -> None:
    arena = Arena(3.0, 3.0, lines=[[0.0, 1.5, 3.0, 1.5]], line_width_m=0.02)
    sensors = (LineSensor("left", 0.05, 0.03), LineSensor("right", 0.05, -0.03))
    world = World(arena, rng(), Pose(1.0, 1.53, 0.0), line_sensors=sensors)
    assert not world.line_detected(0)
    assert world.line_detected(1)  # at y = 1.50
    assert not Arena(3.0, 3.0).on_line(1.0, 1.5)


def test_random_arena_is_reproducible_and_bad_arenas_are_rejected() -> None:
    one, two = Arena.random(rng(9), obstacles=8), Arena.random(rng(9), obstacles=8)
    assert np.array_equal(one.discs, two.discs) and np.array_equal(one.boxes, two.boxes)
    assert len(one.discs) + len(one.boxes) == 8
    with pytest.raises(SpecError, match="positive size"):
        Arena(0.0, 1.0)
    with pytest.raises(SpecError, match="positive radii"):
        Arena(1.0, 1.0, discs=[[0.5, 0.5, 0.0]])
    with pytest.raises(SpecError, match="x_min < x_max"):
        Arena(1.0, 1.0, boxes=[[0.5, 0.5, 0.4, 0.6]])
    with pytest.raises(SpecError, match="dt_s must be positive, found 0"):
        World(EMPTY, rng(), Pose(1.0, 1.0, 0.0)).step(0)


def test_a_reactive_robot_roams_without_getting_stuck() -> None:
    """A reactive controller roams >10 m in 2,000 ticks (speed: scripts/bench_world)."""
    arena = Arena.random(rng(1))
    start = next(
        Pose(x, y, 0.0)
        for x in np.linspace(0.3, 2.7, 25)
        for y in np.linspace(0.3, 2.7, 25)
        if arena.clearance_m(x, y, 0.1) > 0.2
    )
    world = World(arena, rng(1), start)
    for _ in range(2000):
        front = world.distance_m(1)
        if world.collided or (front is not None and front < 0.3):
            world.set_duties(-0.6, 0.6)  # roam like a simple reactive robot
        else:
            world.set_duties(0.8, 0.8)
        world.step(0.05)
    assert world.odometer_m > 10.0


def test_a_side_ranger_turned_keeps_its_mount_circle_and_side() -> None:
    left, front, right = reference_sensors(noise_std_m=0.02)
    turned = [turned_side_ranger(s, 25.0) for s in (left, front, right)]
    assert turned[1] is front  # the front ranger is not turned
    for before, after in ((left, turned[0]), (right, turned[2])):
        assert math.degrees(abs(after.angle_rad)) == pytest.approx(25.0)
        assert math.copysign(1.0, after.angle_rad) == math.copysign(1.0, before.angle_rad)
        assert math.hypot(after.x_m, after.y_m) == pytest.approx(math.hypot(before.x_m, before.y_m))
        assert math.atan2(after.y_m, after.x_m) == pytest.approx(after.angle_rad)  # faces out
        assert (after.name, after.noise_std_m) == (before.name, 0.02)
    back = turned_side_ranger(turned[0], 45.0)  # the reference angle gives the reference ranger
    assert (back.x_m, back.y_m, back.angle_rad) == pytest.approx(
        (left.x_m, left.y_m, left.angle_rad)
    )
