"""A small differential-drive robot in a walled arena, advanced in explicit simulated time.

The model behind ``sim2pi/ObstacleAvoid-v0`` and behind the robot's ``sim`` hardware backend:

- **Drive.** Two DC motors behind an H-bridge, each commanded by a PWM duty in [-1, 1]. A duty
  inside the dead band does not turn the wheel; above it the target wheel speed grows linearly
  to ``gain × max speed`` at full duty. The wheel speed follows its target with a first-order lag
  (time constant ``time_constant_s``), integrated exactly over each physics sub-step, and the
  pose follows the exact arc of a differential drive.
- **Body.** A disc of ``robot_radius_m``. Walls are the arena's edges; obstacles are discs and
  axis-aligned boxes. A disc's occupancy does not change when it turns, so a collision is exactly
  "centre closer than the radius to a surface". A motion that would reach a surface is cut short
  just before contact (to 0.1 µm), the step reports ``collided`` and the robot stays there
  (the wheels slip) until it is commanded away.
- **Ultrasonic rangers** (HC-SR04): each a fan of rays across the sensor's cone; the reading is
  the nearest hit, clamped to the minimum range, with optional Gaussian noise; beyond the
  maximum range, or on a random dropout, no echo comes back and the reading is ``None``.
  ``echo_time_s`` gives the echo pulse length the sensor would produce (round trip at the speed
  of sound), so a hardware-in-the-loop harness can feed gpiozero's DistanceSensor real pulses.
- **Bump switch**: pressed while the body touches something within ``BUMPER_HALF_ANGLE_RAD`` of
  straight ahead. **Line sensors**: reflectance sensors under the chassis, on when over one of
  the arena's floor lines.

Randomness only comes from the ``numpy.random.Generator`` given to ``World``. Frame: x to the
right, y up, heading in radians counter-clockwise from +x; sensor mounts are given in the robot's
frame (x ahead, y to the left).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from shared.errors import SpecError

# --- Physical constants (units in the name; the source in the comment) ---------------------------

#: Speed of sound in dry air at 20 °C (331.3 m/s × sqrt(1 + 20/273.15)).
SPEED_OF_SOUND_M_S = 343.0
#: HC-SR04 datasheet (Elecfreaks): ranging distance 2 cm to 400 cm.
HC_SR04_MIN_RANGE_M = 0.02
HC_SR04_MAX_RANGE_M = 4.0
#: HC-SR04 datasheet: "measuring angle 15 degree", i.e. a cone of ±7.5° about the axis.
HC_SR04_BEAM_HALF_ANGLE_RAD = math.radians(7.5)
#: HC-SR04 datasheet: ranging accuracy 3 mm (a fair ``noise_std_m`` when noise is wanted).
HC_SR04_ACCURACY_M = 0.003
#: HC-SR04 burst frequency (datasheet): 40 kHz; documented here, not used by the model.
HC_SR04_BURST_HZ = 40_000.0
#: Echo pulse length of an HC-SR04 that hears no echo (commonly measured ~38 ms; not in every
#: datasheet revision). A harness may send it for a ``None`` reading.
HC_SR04_NO_ECHO_PULSE_S = 0.038

#: Typical 2WD hobby chassis with "TT" gear motors: 65-66 mm wheels.
WHEEL_RADIUS_M = 0.033
#: Typical 2WD chassis: ~130 mm between the wheel contact points.
WHEEL_BASE_M = 0.13
#: TT gear motor (1:48): ~200 rpm no-load at 6 V.
MAX_WHEEL_SPEED_RAD_S = 200.0 * 2.0 * math.pi / 60.0
#: Wheel speed time constant of a TT motor carrying a ~0.5 kg chassis (estimate: reaches 95 % of
#: its speed in ~0.3 s, as a small robot visibly does).
MOTOR_TIME_CONSTANT_S = 0.1
#: Duty below which the wheel does not turn: an L298N drops ~2 V of a 6-7 V supply and the gear
#: train's static friction holds the rest; ~0.15 is typical (a DRV8833 is lower, ~0.1).
MOTOR_DEAD_BAND = 0.15
#: A 2WD chassis (~200 × 130 mm) seen as a disc that encloses its footprint minus the corners.
ROBOT_RADIUS_M = 0.1
#: Physics sub-step: 10 ms, a tenth of the motor time constant.
PHYSICS_DT_S = 0.01
#: Bodies closer than this count as touching (bump switch, contact) although a motion stops a
#: fraction of a micrometre before the surface.
CONTACT_TOLERANCE_M = 0.001
#: A front bumper covers ±60° about straight ahead.
BUMPER_HALF_ANGLE_RAD = math.radians(60.0)
#: A motion that hits a surface stops within this distance (m) of it, found in at most this many
#: steps (a 10 ms sub-step travels < 7 mm; bisection alone would need 16 steps).
_CONTACT_RESOLUTION_M = 1e-7
_CONTACT_SEARCH_STEPS = 40
#: A motion cut short by less than this (m) is resting contact (a lag's last creep), not a
#: collision.
_RESTING_CONTACT_M = 1e-9


def echo_time_s(distance_m: float) -> float:
    """The echo pulse length (s) an HC-SR04 produces for a target at ``distance_m``."""
    return 2.0 * distance_m / SPEED_OF_SOUND_M_S


def distance_from_echo_m(echo_s: float) -> float:
    """The target distance (m) that an echo pulse of ``echo_s`` seconds means."""
    return echo_s * SPEED_OF_SOUND_M_S / 2.0


@dataclass(frozen=True)
class Pose:
    """Where the robot is: centre (m) in the arena frame and heading (rad, CCW from +x)."""

    x_m: float
    y_m: float
    heading_rad: float


@dataclass(frozen=True)
class DriveParams:
    """The differential drive: geometry, motor speed, lag, dead band and per-side gain."""

    wheel_radius_m: float = WHEEL_RADIUS_M
    wheel_base_m: float = WHEEL_BASE_M
    max_wheel_speed_rad_s: float = MAX_WHEEL_SPEED_RAD_S
    time_constant_s: float = MOTOR_TIME_CONSTANT_S
    dead_band: float = MOTOR_DEAD_BAND
    left_gain: float = 1.0
    right_gain: float = 1.0

    def __post_init__(self) -> None:
        for name in ("wheel_radius_m", "wheel_base_m", "max_wheel_speed_rad_s", "time_constant_s"):
            value = getattr(self, name)
            if not value > 0:
                raise SpecError(f"drive.{name}: expected a positive number, found {value!r}")
        if not 0.0 <= self.dead_band < 1.0:
            raise SpecError(f"drive.dead_band: expected a duty in [0, 1), found {self.dead_band!r}")
        for name in ("left_gain", "right_gain"):
            if not getattr(self, name) >= 0:
                raise SpecError(f"drive.{name}: expected >= 0, found {getattr(self, name)!r}")

    def target_wheel_speed_rad_s(self, duty: float, gain: float = 1.0) -> float:
        """Steady-state wheel speed (rad/s) for a PWM ``duty`` in [-1, 1]."""
        magnitude = min(abs(duty), 1.0)
        if magnitude <= self.dead_band:
            return 0.0
        fraction = (magnitude - self.dead_band) / (1.0 - self.dead_band)
        return math.copysign(fraction * gain * self.max_wheel_speed_rad_s, duty)

    def steady_speed_m_s(self, left_duty: float, right_duty: float) -> float:
        """Steady-state forward speed (m/s) of the robot's centre under constant duties."""
        left = self.target_wheel_speed_rad_s(left_duty, self.left_gain)
        right = self.target_wheel_speed_rad_s(right_duty, self.right_gain)
        return (left + right) / 2.0 * self.wheel_radius_m


@dataclass(frozen=True)
class UltrasonicSensor:
    """An HC-SR04 mounted at (x_m ahead, y_m left) of the centre, facing ``angle_rad`` (CCW)."""

    name: str
    x_m: float
    y_m: float
    angle_rad: float
    min_range_m: float = HC_SR04_MIN_RANGE_M
    max_range_m: float = HC_SR04_MAX_RANGE_M
    beam_half_angle_rad: float = HC_SR04_BEAM_HALF_ANGLE_RAD
    rays: int = 3
    noise_std_m: float = 0.0
    dropout_prob: float = 0.0

    def __post_init__(self) -> None:
        where = f"sensor {self.name!r}"
        if not 0 < self.min_range_m < self.max_range_m:
            raise SpecError(
                f"{where}: expected 0 < min_range_m < max_range_m, found "
                f"{self.min_range_m!r} and {self.max_range_m!r}"
            )
        if self.rays < 1:
            raise SpecError(f"{where}.rays: expected at least 1, found {self.rays!r}")
        if self.noise_std_m < 0:
            raise SpecError(f"{where}.noise_std_m: expected >= 0, found {self.noise_std_m!r}")
        if not 0.0 <= self.dropout_prob <= 1.0:
            raise SpecError(
                f"{where}.dropout_prob: expected in [0, 1], found {self.dropout_prob!r}"
            )

    def ray_angles_rad(self) -> np.ndarray:
        """Ray directions across the cone, relative to the robot's heading."""
        if self.rays == 1:
            return np.array([self.angle_rad])
        spread = self.beam_half_angle_rad
        return self.angle_rad + np.linspace(-spread, spread, self.rays)


@dataclass(frozen=True)
class LineSensor:
    """A downward reflectance sensor at (x_m ahead, y_m left) of the robot's centre."""

    name: str
    x_m: float
    y_m: float


#: The reference robot: HC-SR04s at the front edge facing forward-left (+45°), forward and
#: forward-right (-45°), in the order of ``shared.reference_robot.RANGE_CHANNELS``. At ±30° a
#: policy kept grazing obstacles beside it (contacts at 50-85° off the heading, out of view).
REFERENCE_SENSOR_ANGLE_RAD = math.radians(45.0)
REFERENCE_SENSOR_MOUNT_M = 0.08


def turned_side_ranger(sensor: UltrasonicSensor, side_deg: float) -> UltrasonicSensor:
    """``sensor`` turned to ``side_deg`` off straight ahead on the same mount circle.

    A side ranger mounted at another angle than the reference robot's 45° (a bent or other
    bracket); a front ranger (angle 0) is returned unchanged. Used by the simulator's
    ``side_ranger_deg`` and by the learning benchmark's shifted robots.
    """
    if sensor.angle_rad == 0.0:
        return sensor
    angle = math.copysign(math.radians(side_deg), sensor.angle_rad)
    mount_m = math.hypot(sensor.x_m, sensor.y_m)
    return replace(
        sensor, x_m=mount_m * math.cos(angle), y_m=mount_m * math.sin(angle), angle_rad=angle
    )


def reference_sensors(
    noise_std_m: float = 0.0, dropout_prob: float = 0.0
) -> tuple[UltrasonicSensor, ...]:
    """The reference robot's three rangers (left, front, right) with the given imperfections."""
    sensors = []
    for name, angle in (
        ("left", REFERENCE_SENSOR_ANGLE_RAD),
        ("front", 0.0),
        ("right", -REFERENCE_SENSOR_ANGLE_RAD),
    ):
        sensors.append(
            UltrasonicSensor(
                name,
                REFERENCE_SENSOR_MOUNT_M * math.cos(angle),
                REFERENCE_SENSOR_MOUNT_M * math.sin(angle),
                angle,
                noise_std_m=noise_std_m,
                dropout_prob=dropout_prob,
            )
        )
    return tuple(sensors)


def _rows(values: object, columns: int, where: str) -> np.ndarray:
    """``values`` as a float array of shape (n, columns), or SpecError."""
    array = np.asarray(values, dtype=np.float64).reshape(-1, columns) if np.size(values) else None
    if array is None:
        return np.zeros((0, columns))
    if not np.all(np.isfinite(array)):
        raise SpecError(f"{where}: expected finite numbers, found {array.tolist()!r}")
    return array


@dataclass(frozen=True, eq=False)
class Arena:
    """A walled rectangle [0, width_m] × [0, height_m] with obstacles and floor lines."""

    width_m: float
    height_m: float
    #: Disc obstacles, one row (x_m, y_m, radius_m) each.
    discs: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    #: Box obstacles, one row (x_min_m, y_min_m, x_max_m, y_max_m) each.
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    #: Floor lines for line sensors, one row (x0_m, y0_m, x1_m, y1_m) each.
    lines: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    line_width_m: float = 0.02

    def __post_init__(self) -> None:
        if not (self.width_m > 0 and self.height_m > 0):
            raise SpecError(
                f"arena: expected a positive size, found {self.width_m!r} × {self.height_m!r} m"
            )
        discs = _rows(self.discs, 3, "arena.discs")
        if np.any(discs[:, 2] <= 0):
            raise SpecError(f"arena.discs: expected positive radii, found {discs[:, 2].tolist()}")
        boxes = _rows(self.boxes, 4, "arena.boxes")
        if np.any(boxes[:, 2] <= boxes[:, 0]) or np.any(boxes[:, 3] <= boxes[:, 1]):
            raise SpecError(f"arena.boxes: expected x_min < x_max and y_min < y_max in {boxes}")
        object.__setattr__(self, "discs", discs)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "lines", _rows(self.lines, 4, "arena.lines"))
        # Plain floats: for a handful of obstacles a Python loop beats numpy's per-call overhead.
        object.__setattr__(self, "_disc_rows", [tuple(row) for row in discs.tolist()])
        object.__setattr__(self, "_box_rows", [tuple(row) for row in boxes.tolist()])

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        *,
        width_m: float = 3.0,
        height_m: float = 3.0,
        obstacles: int = 6,
        min_half_size_m: float = 0.1,
        max_half_size_m: float = 0.25,
    ) -> Arena:
        """An arena with ``obstacles`` discs and boxes (radius / half-side in range) at random."""
        kinds = rng.random(obstacles) < 0.5
        half = rng.uniform(min_half_size_m, max_half_size_m, size=(obstacles, 2))
        centre = rng.uniform((0.0, 0.0), (width_m, height_m), size=(obstacles, 2))
        discs = np.column_stack([centre[kinds], half[kinds, 0]])
        boxes = np.column_stack([centre[~kinds] - half[~kinds], centre[~kinds] + half[~kinds]])
        return cls(width_m, height_m, discs, boxes)

    def clearance_m(self, x_m: float, y_m: float, radius_m: float) -> float:
        """Gap (m) from a disc at (x, y) to the nearest wall or obstacle; <= 0 is a collision."""
        gap = min(x_m, self.width_m - x_m, y_m, self.height_m - y_m)
        hypot = math.hypot
        for cx, cy, r in self._disc_rows:
            gap = min(gap, hypot(cx - x_m, cy - y_m) - r)
        for x0, y0, x1, y1 in self._box_rows:
            dx = max(x0 - x_m, x_m - x1)
            dy = max(y0 - y_m, y_m - y1)
            if dx > 0 or dy > 0:
                gap = min(gap, hypot(max(dx, 0.0), max(dy, 0.0)))
            else:  # centre inside the box: minus the depth
                gap = min(gap, max(dx, dy))
        return gap - radius_m

    def contact_bearings_rad(self, x_m: float, y_m: float, radius_m: float) -> list[float]:
        """Directions (rad, arena frame) from (x, y) to each surface within contact tolerance."""
        reach = radius_m + CONTACT_TOLERANCE_M
        bearings = []
        for gap, angle in (
            (x_m, math.pi),
            (self.width_m - x_m, 0.0),
            (y_m, -math.pi / 2),
            (self.height_m - y_m, math.pi / 2),
        ):
            if gap <= reach:
                bearings.append(angle)
        for cx, cy, r in self._disc_rows:
            if math.hypot(cx - x_m, cy - y_m) - r <= reach:
                bearings.append(math.atan2(cy - y_m, cx - x_m))
        for x0, y0, x1, y1 in self._box_rows:
            px, py = min(max(x_m, x0), x1), min(max(y_m, y0), y1)
            if math.hypot(px - x_m, py - y_m) <= reach:
                bearings.append(math.atan2(py - y_m, px - x_m))
        return bearings

    def cast_ray_m(self, x_m: float, y_m: float, angle_rad: float) -> float:
        """Distance (m) from (x, y) along ``angle_rad`` to the first surface (0 inside one)."""
        return self.cast_fan_m(x_m, y_m, (angle_rad,))

    # One loop with its branches inline: the simulator's hot path (scripts/bench_world).
    def cast_fan_m(self, x_m: float, y_m: float, angles_rad: Sequence[float]) -> float:  # noqa: PLR0912
        """The shortest distance (m) from (x, y) to a surface along any of ``angles_rad``."""
        # What does not depend on the direction is computed once for the whole fan.
        discs = []
        for cx, cy, r in self._disc_rows:
            fx, fy = x_m - cx, y_m - cy
            c = fx * fx + fy * fy - r * r
            if c <= 0:  # the origin is inside the disc
                return 0.0
            discs.append((fx, fy, c))
        boxes = [(x0 - x_m, x1 - x_m, y0 - y_m, y1 - y_m) for x0, y0, x1, y1 in self._box_rows]
        right, top = self.width_m - x_m, self.height_m - y_m
        sqrt, cos, sin, inf = math.sqrt, math.cos, math.sin, math.inf
        nearest = inf
        for angle in angles_rad:
            dx, dy = cos(angle), sin(angle)
            # Walls: from inside the rectangle every ray leaves through one of them.
            best = right / dx if dx > 0 else (-x_m / dx if dx < 0 else inf)
            wall_y = top / dy if dy > 0 else (-y_m / dy if dy < 0 else inf)
            if wall_y < best:  # noqa: PLR1730 (no min() call in the hot loop)
                best = wall_y
            if best < 0:
                best = 0.0
            for fx, fy, c in discs:
                b = fx * dx + fy * dy
                if b < 0:  # heading towards the centre (b >= 0: outside and moving away)
                    disc = b * b - c
                    if disc >= 0:
                        t = -b - sqrt(disc)
                        if t < best:  # noqa: PLR1730
                            best = t
            # Slab method; a zero direction component is nudged so 1/d stays finite.
            inv_x = 1.0 / dx if dx != 0 else 1e300
            inv_y = 1.0 / dy if dy != 0 else 1e300
            for left, right_, bottom, top_ in boxes:
                t1, t2 = left * inv_x, right_ * inv_x
                if t1 > t2:
                    t1, t2 = t2, t1
                t3, t4 = bottom * inv_y, top_ * inv_y
                if t3 > t4:
                    t3, t4 = t4, t3
                near = t1 if t1 > t3 else t3
                far = t2 if t2 < t4 else t4
                if near <= far and far >= 0 and near < best:
                    best = near if near > 0 else 0.0
            if best < nearest:  # noqa: PLR1730
                nearest = best
        return nearest

    def on_line(self, x_m: float, y_m: float) -> bool:
        """Whether the point (x, y) lies on one of the floor lines."""
        half_width = self.line_width_m / 2.0
        for x0, y0, x1, y1 in self.lines.tolist():
            ex, ey = x1 - x0, y1 - y0
            length2 = ex * ex + ey * ey
            s = 0.0 if length2 == 0 else ((x_m - x0) * ex + (y_m - y0) * ey) / length2
            s = min(max(s, 0.0), 1.0)
            if math.hypot(x0 + s * ex - x_m, y0 + s * ey - y_m) <= half_width:
                return True
        return False


class World:
    """The robot in its arena: set motor duties, advance by ``dt_s``, read sensors and state."""

    def __init__(
        self,
        arena: Arena,
        rng: np.random.Generator,
        pose: Pose,
        *,
        drive: DriveParams | None = None,
        sensors: Sequence[UltrasonicSensor] | None = None,
        line_sensors: Sequence[LineSensor] = (),
        robot_radius_m: float = ROBOT_RADIUS_M,
        physics_dt_s: float = PHYSICS_DT_S,
    ) -> None:
        if not physics_dt_s > 0:
            raise SpecError(f"world: physics_dt_s must be positive, found {physics_dt_s!r}")
        if not robot_radius_m > 0:
            raise SpecError(f"world: robot_radius_m must be positive, found {robot_radius_m!r}")
        self.arena = arena
        self.rng = rng
        self.drive = drive if drive is not None else DriveParams()
        self.sensors = tuple(sensors) if sensors is not None else reference_sensors()
        self.line_sensors = tuple(line_sensors)
        self.robot_radius_m = robot_radius_m
        self.physics_dt_s = physics_dt_s
        self.time_s = 0.0
        self._x, self._y = float(pose.x_m), float(pose.y_m)
        self._heading = float(pose.heading_rad)
        self._duty = (0.0, 0.0)
        self._wheel_rad_s = [0.0, 0.0]  # left, right
        self._collided = False
        self._distance_travelled_m = 0.0
        self._odometer_m = 0.0
        # Per sensor: mount (m, robot frame) and ray angles (rad, relative to the heading).
        self._mounts = [(s.x_m, s.y_m, tuple(s.ray_angles_rad().tolist())) for s in self.sensors]
        self._noisy = any(s.noise_std_m > 0 for s in self.sensors)
        self._dropping = any(s.dropout_prob > 0 for s in self.sensors)
        self._clearance_m = arena.clearance_m(self._x, self._y, robot_radius_m)
        if self._clearance_m <= 0:
            raise SpecError(
                f"world: the start pose {pose} overlaps a wall or obstacle "
                f"(clearance {self._clearance_m:.4f} m); choose a free pose"
            )
        self._sense()

    # --- commands and time -----------------------------------------------------------------------

    def set_duties(self, left: float, right: float) -> None:
        """Command the PWM duty of each motor, in [-1, 1] (values outside are clipped)."""
        if not (math.isfinite(left) and math.isfinite(right)):
            raise SpecError(f"world: duties must be finite, found left={left!r}, right={right!r}")
        self._duty = (min(max(left, -1.0), 1.0), min(max(right, -1.0), 1.0))

    def step(self, dt_s: float) -> None:
        """Advance the world by ``dt_s`` seconds of simulated time, then sample every sensor."""
        if not dt_s > 0:
            raise SpecError(f"world.step: dt_s must be positive, found {dt_s!r}")
        drive = self.drive
        radius = drive.wheel_radius_m
        targets = (
            drive.target_wheel_speed_rad_s(self._duty[0], drive.left_gain),
            drive.target_wheel_speed_rad_s(self._duty[1], drive.right_gain),
        )
        substeps = max(1, math.ceil(dt_s / self.physics_dt_s - 1e-9))
        h = dt_s / substeps
        decay = math.exp(-h / drive.time_constant_s)
        # Mean of the exponential approach over a sub-step, as a fraction of the initial gap.
        mean_gap = drive.time_constant_s / h * (1.0 - decay)
        # The centre moves no faster than the faster wheel's rim: far from everything, no sub-step
        # can reach a surface and the per-sub-step collision check is skipped.
        fastest = max(abs(self._wheel_rad_s[0]), abs(self._wheel_rad_s[1]), *map(abs, targets))
        check = self._clearance_m <= fastest * radius * dt_s + 1e-9
        clearance_m = self._clearance_m
        collided = False
        for _ in range(substeps):
            left0, right0 = self._wheel_rad_s
            left_mean = targets[0] + (left0 - targets[0]) * mean_gap
            right_mean = targets[1] + (right0 - targets[1]) * mean_gap
            self._wheel_rad_s = [
                targets[0] + (left0 - targets[0]) * decay,
                targets[1] + (right0 - targets[1]) * decay,
            ]
            speed = (left_mean + right_mean) / 2.0 * radius
            turn = (right_mean - left_mean) * radius / drive.wheel_base_m
            if check:
                cut, clearance_m = self._move_until_contact(speed, turn, h, clearance_m)
                collided |= cut
            else:
                self._move(speed, turn, h)
        self._collided = collided
        self.time_s += dt_s
        self._clearance_m = self.arena.clearance_m(self._x, self._y, self.robot_radius_m)
        self._sense()

    def _arc(self, speed: float, turn: float, h: float) -> tuple[float, float, float]:
        """The pose after ``h`` s at forward ``speed`` (m/s) and ``turn`` rate (rad/s)."""
        heading = self._heading + turn * h
        if abs(turn) < 1e-9:
            return (
                self._x + speed * h * math.cos(self._heading),
                self._y + speed * h * math.sin(self._heading),
                heading,
            )
        r = speed / turn
        return (
            self._x + r * (math.sin(heading) - math.sin(self._heading)),
            self._y - r * (math.cos(heading) - math.cos(self._heading)),
            heading,
        )

    def _move(self, speed: float, turn: float, h: float) -> None:
        x, y, heading = self._arc(speed, turn, h)
        self._distance_travelled_m += abs(speed) * h
        self._odometer_m += speed * h
        self._x, self._y = x, y
        self._heading = (heading + math.pi) % (2.0 * math.pi) - math.pi

    def _move_until_contact(
        self, speed: float, turn: float, h: float, clearance_m: float
    ) -> tuple[bool, float]:
        """Move like ``_move`` but stop just short of a surface.

        ``clearance_m`` is the clearance now; returns (whether the motion was cut short, the
        clearance after the move).
        """
        arena, radius = self.arena, self.robot_radius_m
        x, y, _ = self._arc(speed, turn, h)
        end_clearance_m = arena.clearance_m(x, y, radius)
        if end_clearance_m > 0:
            self._move(speed, turn, h)
            return False, end_clearance_m
        # Find the last free instant of the sub-step by regula falsi (Illinois variant) on the
        # clearance, which is close to linear in time over a few millimetres of travel: two or
        # three evaluations instead of a bisection's sixteen, also when pressing on a wall.
        free, blocked = 0.0, h
        c_free, c_blocked = clearance_m, end_clearance_m
        side = 0
        for _ in range(_CONTACT_SEARCH_STEPS):
            if (blocked - free) * abs(speed) <= _CONTACT_RESOLUTION_M:
                break
            t = free + (blocked - free) * c_free / (c_free - c_blocked)
            margin = (blocked - free) * 1e-3  # stay strictly inside the bracket
            t = min(max(t, free + margin), blocked - margin)
            x, y, _ = self._arc(speed, turn, t)
            c = arena.clearance_m(x, y, radius)
            if c > 0:
                free, c_free = t, c
                if side == 1:
                    c_blocked /= 2.0
                side = 1
            else:
                blocked, c_blocked = t, c
                if side == -1:
                    c_free /= 2.0
                side = -1
        if free > 0:
            self._move(speed, turn, free)
        else:
            c_free = clearance_m
        # Pressing on a surface with a lag's last nanometre of creep is resting contact.
        return abs(speed) * (h - free) > _RESTING_CONTACT_M, c_free

    # --- sensing ---------------------------------------------------------------------------------

    def _sense(self) -> None:
        """Sample every sensor at the current pose (the only place sensor randomness is drawn)."""
        x, y, heading = self._x, self._y, self._heading
        cos_h, sin_h = math.cos(heading), math.sin(heading)
        cast = self.arena.cast_fan_m
        true = [
            cast(
                x + mx * cos_h - my * sin_h,
                y + mx * sin_h + my * cos_h,
                [heading + angle for angle in angles],
            )
            for mx, my, angles in self._mounts
        ]
        count = len(true)
        noise = self.rng.normal(0.0, 1.0, size=count).tolist() if self._noisy else [0.0] * count
        draws = self.rng.random(count).tolist() if self._dropping else [1.0] * count
        readings: list[float | None] = []
        for sensor, distance, z, u in zip(self.sensors, true, noise, draws, strict=True):
            if distance > sensor.max_range_m or u < sensor.dropout_prob:
                readings.append(None)  # no echo within the sensor's timeout
            else:
                readings.append(max(distance + z * sensor.noise_std_m, sensor.min_range_m))
        self._true_ranges_m = true
        self._ranges_m = tuple(readings)

    # --- what a robot (or a test) can read -------------------------------------------------------

    @property
    def pose(self) -> Pose:
        """The robot's current pose."""
        return Pose(self._x, self._y, self._heading)

    @property
    def duties(self) -> tuple[float, float]:
        """The commanded (left, right) duties."""
        return self._duty

    @property
    def wheel_speeds_rad_s(self) -> tuple[float, float]:
        """The (left, right) wheel speeds in rad/s."""
        return self._wheel_rad_s[0], self._wheel_rad_s[1]

    @property
    def forward_speed_m_s(self) -> float:
        """Forward speed (m/s) the wheels drive at (they keep turning while the body is blocked)."""
        return (self._wheel_rad_s[0] + self._wheel_rad_s[1]) / 2.0 * self.drive.wheel_radius_m

    @property
    def distance_travelled_m(self) -> float:
        """Path length (m) the centre has covered since the start."""
        return self._distance_travelled_m

    @property
    def odometer_m(self) -> float:
        """Signed path length (m) since the start: ahead counts up, reversing counts down."""
        return self._odometer_m

    def ranges_m(self) -> tuple[float | None, ...]:
        """Each ultrasonic sensor's last reading in metres, ``None`` where no echo came back."""
        return self._ranges_m

    def distance_m(self, index: int) -> float | None:
        """Sensor ``index``'s last reading in metres, or ``None`` for a missed echo."""
        return self._ranges_m[index]

    def echo_time_s(self, index: int) -> float | None:
        """The echo pulse length (s) sensor ``index`` produced, or ``None`` for a missed echo."""
        distance = self._ranges_m[index]
        return None if distance is None else echo_time_s(distance)

    def true_ranges_m(self) -> np.ndarray:
        """Noise-free distance (m) from each sensor to the nearest surface in its cone."""
        return np.array(self._true_ranges_m)

    @property
    def clearance_m(self) -> float:
        """Gap (m) between the robot's body and the nearest wall or obstacle."""
        return self._clearance_m

    @property
    def collided(self) -> bool:
        """Whether the last ``step`` ran into a wall or obstacle (the motion was cut short)."""
        return self._collided

    @property
    def in_contact(self) -> bool:
        """Whether the body touches a wall or obstacle now."""
        return self._clearance_m <= CONTACT_TOLERANCE_M

    @property
    def bumper_pressed(self) -> bool:
        """Whether a front bump switch (±60° about ahead) touches something now."""
        if not self.in_contact:
            return False
        for bearing in self.arena.contact_bearings_rad(self._x, self._y, self.robot_radius_m):
            off = (bearing - self._heading + math.pi) % (2.0 * math.pi) - math.pi
            if abs(off) <= BUMPER_HALF_ANGLE_RAD:
                return True
        return False

    def line_detected(self, index: int) -> bool:
        """Whether line sensor ``index`` is over a floor line now."""
        sensor = self.line_sensors[index]
        cos_h, sin_h = math.cos(self._heading), math.sin(self._heading)
        return self.arena.on_line(
            self._x + sensor.x_m * cos_h - sensor.y_m * sin_h,
            self._y + sensor.x_m * sin_h + sensor.y_m * cos_h,
        )


class ContactTally:
    """Mixin for whatever steps a ``World`` (``self.world``): call ``_count`` after each step.

    Counts world steps, the steps that ended in contact (the motion was cut short), and
    collisions once each (a step in contact after one that was not). Class-level zeros, so the
    counts read 0 before the first step, also in a constructor that fails half-way.
    """

    world: World
    steps: int = 0
    collision_steps: int = 0
    collisions: int = 0
    _was_colliding: bool = False

    def _count(self) -> None:
        colliding = self.world.collided
        self.steps += 1
        self.collision_steps += int(colliding)
        self.collisions += int(colliding and not self._was_colliding)
        self._was_colliding = colliding
