"""``robot.toml``: parsed once with ``tomllib`` into frozen dataclasses and validated at start.

Every error names the file, the key path, what was expected and found, and the fix. Relative
paths (the bundle, telemetry, learning state) are relative to the config file's directory.
``check_channels`` checks the config's channel mapping against the bundle's spec.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from robot.config.toml_table import Table
from robot.errors import ConfigError
from shared.spec import TaskSpec

#: The bundle's Q-table as learnt on the robot (the newest good snapshot in ``[learning]
#: state_dir``), driven greedily without learning (``robot.runtime.compose.open_learned_policy``).
LEARNED_POLICY = "qtable-learned"
POLICIES = ("tflite", "tflite-int8", "qtable", LEARNED_POLICY)
BACKENDS = ("gpio", "serial", "gym", "sim")
DRIVE_KINDS = ("motor", "phase_enable")
#: A sane control rate: below 1 Hz a robot cannot react, above 200 Hz HC-SR04s cannot keep up.
RATE_HZ_RANGE = (1.0, 200.0)

Pin = int | str


@dataclass(frozen=True)
class BundleConfig:
    """Which bundle to load and which of its policies to run."""

    path: Path
    policy: str


@dataclass(frozen=True)
class LoopConfig:
    """The control loop's rate and the limits that stop the motors."""

    rate_hz: float = 20.0
    #: A reading older than this (seconds) is stale: the motors stop until fresh data arrives.
    max_sensor_age_s: float = 0.3
    #: This many deadlines missed in a row stop the motors until a tick is on time again.
    max_consecutive_overruns: int = 3


@dataclass(frozen=True)
class DistanceSensorConfig:
    """An HC-SR04 on two GPIOs feeding one observation channel (metres)."""

    channel: str
    trigger: Pin
    echo: Pin
    max_distance_m: float = 2.0
    #: gpiozero's median window; readings arrive about every 60 ms per sensor.
    queue_len: int = 3


@dataclass(frozen=True)
class LineSensorConfig:
    """A reflectance line sensor feeding a 0/1 channel."""

    channel: str
    pin: Pin
    pull_up: bool = False


@dataclass(frozen=True)
class BumperConfig:
    """A bump switch (a gpiozero Button); reported in every snapshot and in telemetry."""

    pin: Pin
    pull_up: bool = True
    #: Optional observation channel fed with 1.0 while pressed.
    channel: str | None = None


@dataclass(frozen=True)
class MotorPins:
    """One side of the drive: ``forward``/``backward`` (+ optional ``enable``), or ``phase``."""

    forward: Pin | None = None
    backward: Pin | None = None
    enable: Pin | None = None
    phase: Pin | None = None


@dataclass(frozen=True)
class DriveConfig:
    """Two motors as a gpiozero Robot; ``motor`` = L298N-style IN1/IN2 (+EN), or phase/enable."""

    kind: str
    left: MotorPins
    right: MotorPins
    pwm: bool = True


@dataclass(frozen=True)
class GpioConfig:
    """Sensors and drive on the Pi's own GPIOs through gpiozero."""

    backend: ClassVar[str] = "gpio"
    distance_sensors: tuple[DistanceSensorConfig, ...]
    line_sensors: tuple[LineSensorConfig, ...]
    bumper: BumperConfig | None
    drive: DriveConfig

    def channel_names(self) -> tuple[str, ...]:
        """The observation channels these sensors feed."""
        names = [s.channel for s in self.distance_sensors]
        names += [s.channel for s in self.line_sensors]
        if self.bumper is not None and self.bumper.channel is not None:
            names.append(self.bumper.channel)
        return tuple(names)


@dataclass(frozen=True)
class SerialConfig:
    """A microcontroller on a UART/USB link speaking sim2pi's line protocol."""

    backend: ClassVar[str] = "serial"
    url: str
    #: Observation channel → position of its range in the ``$S`` frame (0-based).
    channels: tuple[tuple[str, int], ...]
    #: Ranges per ``$S`` frame; a frame with another count is dropped as corrupt.
    ranges_per_frame: int
    baudrate: int = 115_200
    #: Longest a read waits for bytes before looking at the stop flag again (seconds).
    read_timeout_s: float = 0.02
    #: Longest a write may block (seconds); a port that blocks longer is treated as lost.
    #: pyserial checks it after writing, so a process paused longer (a loaded CPU) also trips
    #: it: keep it well above a tick's worst scheduling delay.
    write_timeout_s: float = 0.2
    #: No valid frame for this long: the link is down and the port is reopened.
    link_timeout_s: float = 0.5
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 5.0

    def channel_names(self) -> tuple[str, ...]:
        """The observation channels the microcontroller's frames feed."""
        return tuple(name for name, _ in self.channels)


@dataclass(frozen=True)
class GymConfig:
    """A Gymnasium env as the world (software in the loop; needs the dev requirements)."""

    backend: ClassVar[str] = "gym"
    env_id: str
    #: Observation channel → index into the env's observation vector.
    channels: tuple[tuple[str, int], ...]
    seed: int | None = None

    def channel_names(self) -> tuple[str, ...]:
        """The observation channels the env's observation vector feeds."""
        return tuple(name for name, _ in self.channels)


@dataclass(frozen=True)
class SimConfig:
    """The simulated world behind gpiozero mock pins (hardware in the loop without hardware)."""

    backend: ClassVar[str] = "sim"
    #: The pins, as in ``[hardware.gpio]``; distance sensor i is the world's ranger i.
    gpio: GpioConfig
    #: Seeds the arena, the start pose and the sensor noise: same seed, same run.
    seed: int = 0
    #: Side of the square arena (metres).
    arena_m: float = 4.0
    #: Discs and boxes placed at random in the arena.
    obstacles: int = 6
    #: Standard deviation of each range reading's noise (metres).
    noise_std_m: float = 0.01
    #: Chance that a ping gets no echo (the sensor then reads its maximum range).
    dropout_prob: float = 0.0
    #: Wheel speed at full duty relative to the reference motor (both sides).
    motor_gain: float = 1.0

    def channel_names(self) -> tuple[str, ...]:
        """The observation channels the simulated sensors feed."""
        return self.gpio.channel_names()


#: The ``[hardware]`` section: one backend's config, tagged by its ``backend`` name.
HardwareConfig = GpioConfig | SerialConfig | SimConfig | GymConfig


@dataclass(frozen=True)
class TelemetryConfig:
    """Per-tick JSON Lines, size-rotated; off by default."""

    enabled: bool = False
    path: Path = Path("telemetry/ticks.jsonl")
    #: Write one tick in this many (1 = every tick).
    every_n_ticks: int = 1
    max_bytes: int = 10_000_000
    backups: int = 3


@dataclass(frozen=True)
class LearningConfig:
    """On-robot Q-learning (used by the learning issue; parsed and validated here)."""

    enabled: bool = False
    epsilon_start: float = 0.2
    epsilon_floor: float = 0.02
    #: Multiplied into epsilon after every update.
    epsilon_decay: float = 0.999
    alpha: float = 0.1
    #: The trainer's discount (its DQN and Q-learning default): the bundle's Q-values are on
    #: that scale, and another gamma would first have to rescale every value.
    gamma: float = 0.99
    #: The share of each TD correction applied to every action of the state, not only the one
    #: taken (0: plain Q-learning). Keeps the bundle's preferences until experience changes them.
    state_share: float = 0.5
    #: lambda of Watkins's Q(lambda): each TD error also corrects the (state, action) pairs
    #: before it, by their eligibility trace (x gamma*lambda per tick back; cut at an exploratory
    #: action and at each collision). 0: one-step Q-learning (the default: on the benchmark's
    #: 10 seeds 0.9 did better on average only through one seed; median per seed: no better).
    trace_lambda: float = 0.0
    #: The TD error of a tick without a collision is clipped to +-huber_delta before it moves a
    #: value (the gradient of the Huber loss the trainer's DQN minimises, huber_delta 1.0 there);
    #: a collision's is never clipped. 0: nothing is clipped.
    huber_delta: float = 1.0
    save_every: int = 500
    keep: int = 3
    #: Exploration never drives forward while any range is below this (metres).
    shield_distance_m: float = 0.25
    #: While learning, no choice (greedy ones too) drives forward while any range is below this
    #: (metres): the best-valued action that does not is driven, and learnt from. 0: off.
    shield_greedy_distance_m: float = 0.2
    state_dir: Path = Path("learning")
    #: alpha = max(alpha_floor, alpha / (1 + visits) ** alpha_omega) per (state, action).
    alpha_omega: float = 0.5
    alpha_floor: float = 0.05
    #: A range below this (metres) ends an episode as a collision, like the bumper. An HC-SR04
    #: reads >= 0.02 m and the front one reads ~0.02 m at contact; at 0.05 m noisy readings
    #: ended episodes without a contact (benchmark: range noise 0.03 m).
    collision_distance_m: float = 0.03
    #: Episodes per rollback window; a window this far (return) below the best rolls back,
    #: and epsilon is multiplied by rollback_epsilon_factor.
    rollback_window: int = 10
    #: An episode (collision to collision) returns hundreds on the reference reward; a drop of
    #: 5 rolled back on noise every few episodes.
    rollback_drop: float = 100.0
    rollback_epsilon_factor: float = 0.5
    #: The recovery manoeuvre after a collision: (left duty, right duty, duration_s) steps.
    recovery: tuple[tuple[float, float, float], ...] = (
        (0.0, 0.0, 0.3),
        (-0.5, -0.5, 0.6),
        (-0.6, 0.6, 0.5),
    )


@dataclass(frozen=True)
class RobotConfig:
    """The whole of ``robot.toml``."""

    source: Path
    bundle: BundleConfig
    loop: LoopConfig
    hardware: HardwareConfig
    telemetry: TelemetryConfig
    learning: LearningConfig


def load_config(path: str | Path) -> RobotConfig:
    """Read and validate ``path``; raises ConfigError naming the key and the fix."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file; copy one from robot/examples/ and edit it"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax there") from None
    return parse_config(data, path)


def parse_config(data: dict, source: Path) -> RobotConfig:
    """Validate parsed TOML ``data`` read from ``source``."""
    root = Table(data, "", source)
    base = source.parent
    bundle = root.table("bundle")
    assert bundle is not None
    bundle_cfg = BundleConfig(
        path=_path(bundle.get("path", str), base), policy=bundle.choice("policy", POLICIES)
    )
    bundle.done()
    loop = root.table("loop", optional=True) or Table({}, "loop", source)
    loop_cfg = LoopConfig(
        rate_hz=loop.number("rate_hz", LoopConfig.rate_hz, *RATE_HZ_RANGE, unit="Hz"),
        max_sensor_age_s=loop.number("max_sensor_age_s", LoopConfig.max_sensor_age_s, 0.001, 10.0),
        max_consecutive_overruns=loop.integer(
            "max_consecutive_overruns", LoopConfig.max_consecutive_overruns, 1, 1000
        ),
    )
    loop.done()
    hardware = _hardware(root.table("hardware"))  # type: ignore[arg-type]
    telemetry = _telemetry(root.table("telemetry", optional=True), source)
    learning = _learning(root.table("learning", optional=True), source)
    root.done()
    return RobotConfig(source, bundle_cfg, loop_cfg, hardware, telemetry, learning)


def check_channels(config: RobotConfig, spec: TaskSpec) -> None:
    """Raise ConfigError unless the hardware feeds exactly the spec's observation channels."""
    mapped = config.hardware.channel_names()
    where = f"hardware.{config.hardware.backend}"
    for name in spec.observation.names:
        if name not in mapped:
            raise ConfigError(
                f"{config.source}: [{where}] has no sensor for the bundle's channel {name!r}; "
                f"map it (the bundle's channels: {list(spec.observation.names)}; "
                f"mapped: {list(mapped)})"
            )
    for name in mapped:
        if name not in spec.observation.names:
            raise ConfigError(
                f"{config.source}: [{where}] maps channel {name!r}, which the bundle's spec "
                f"does not have; use one of {list(spec.observation.names)} or remove it"
            )


def _path(text: str, base: Path) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _pin_check(value: Pin) -> str | None:
    if isinstance(value, int):
        return None if 0 <= value <= 53 else "expected a BCM GPIO number 0..53"
    if re.fullmatch(r"(GPIO|BCM|BOARD|WPI|J8:)?\d+", value.strip().upper()):
        return None
    return "expected a pin such as 17, 'GPIO17' or 'BOARD11'"


def _pin(table: Table, key: str, used: dict[str, str], optional: bool = False) -> Pin | None:
    if optional and not table.has(key):
        return None
    value = table.get(key, int | str, check=_pin_check, fix="give the BCM number, e.g. 17")  # type: ignore[arg-type]
    label = f"GPIO{value}" if isinstance(value, int) else value.strip().upper()
    label = re.sub(r"^BCM", "GPIO", label)
    label = f"GPIO{label}" if label.isdigit() else label
    if label in used:
        raise table.error(
            key,
            f"pin {value!r} is already used by [{used[label]}]",
            "give each device its own pin",
        )
    used[label] = table.key_path(key)
    return value


def _channel(table: Table, key: str, seen: dict[str, str]) -> str:
    name = table.get(key, str)
    if name in seen:
        raise table.error(
            key,
            f"channel {name!r} is already fed by [{seen[name]}]",
            "map each channel to exactly one sensor",
        )
    seen[name] = table.key_path(key)
    return name


def _hardware(table: Table) -> HardwareConfig:
    backend = table.choice("backend", BACKENDS)
    parts: dict[str, Callable[[Table], object]] = {
        "gpio": _gpio,
        "serial": _serial,
        "gym": _gym,
        "sim": _sim,
    }
    sections: dict[str, object] = {}
    for name, parse in parts.items():
        sub = table.table(name, optional=True)
        if sub is None:
            continue
        if name != backend:
            raise table.error(
                name,
                f"is given but backend = {backend!r}",
                f"remove [hardware.{name}] or set backend = {name!r}",
            )
        sections[name] = parse(sub)
    if backend not in sections:
        raise table.error(backend, "is missing", f"add a [hardware.{backend}] table")
    table.done()
    return sections[backend]  # type: ignore[return-value]


def _gpio(table: Table) -> GpioConfig:
    pins: dict[str, str] = {}
    channels: dict[str, str] = {}
    distance = []
    for sensor in table.tables("distance_sensors"):
        distance.append(
            DistanceSensorConfig(
                channel=_channel(sensor, "channel", channels),
                trigger=_pin(sensor, "trigger", pins),  # type: ignore[arg-type]
                echo=_pin(sensor, "echo", pins),  # type: ignore[arg-type]
                max_distance_m=sensor.number("max_distance_m", 2.0, 0.05, 4.0, "m"),
                queue_len=sensor.integer("queue_len", 3, 1, 30),
            )
        )
        sensor.done()
    lines = []
    for sensor in table.tables("line_sensors"):
        lines.append(
            LineSensorConfig(
                channel=_channel(sensor, "channel", channels),
                pin=_pin(sensor, "pin", pins),  # type: ignore[arg-type]
                pull_up=sensor.get("pull_up", bool, False),
            )
        )
        sensor.done()
    bumper = None
    if (bump := table.table("bumper", optional=True)) is not None:
        pin = _pin(bump, "pin", pins)
        pull_up = bump.get("pull_up", bool, True)
        channel = _channel(bump, "channel", channels) if bump.has("channel") else None
        bumper = BumperConfig(pin, pull_up, channel)  # type: ignore[arg-type]
        bump.done()
    drive_table = table.table("drive")
    assert drive_table is not None
    drive = _drive(drive_table, pins)
    table.done()
    return GpioConfig(tuple(distance), tuple(lines), bumper, drive)


def _sim(table: Table) -> SimConfig:
    pins = table.table("gpio")
    assert pins is not None
    config = SimConfig(
        gpio=_gpio(pins),
        seed=table.integer("seed", 0, 0, 2**32 - 1),
        arena_m=table.number("arena_m", 4.0, 1.0, 20.0, "m"),
        obstacles=table.integer("obstacles", 6, 0, 50),
        noise_std_m=table.number("noise_std_m", 0.01, 0.0, 0.5, "m"),
        dropout_prob=table.number("dropout_prob", 0.0, 0.0, 1.0),
        motor_gain=table.number("motor_gain", 1.0, 0.1, 2.0),
    )
    table.done()
    return config


def _drive(table: Table, pins: dict[str, str]) -> DriveConfig:
    kind = table.choice("kind", DRIVE_KINDS)
    sides = []
    for side in ("left", "right"):
        sub = table.table(side)
        assert sub is not None
        if kind == "motor":
            motor = MotorPins(
                forward=_pin(sub, "forward", pins),
                backward=_pin(sub, "backward", pins),
                enable=_pin(sub, "enable", pins, optional=True),
            )
        else:
            motor = MotorPins(phase=_pin(sub, "phase", pins), enable=_pin(sub, "enable", pins))
        sub.done()
        sides.append(motor)
    pwm = table.get("pwm", bool, True)
    table.done()
    return DriveConfig(kind, sides[0], sides[1], pwm)


def _index_mapping(table: Table, key: str, size: int | None) -> tuple[tuple[str, int], ...]:
    mapping = table.get(key, dict, fix=f"add `{key} = {{ front_distance_m = 0, … }}`")
    out = []
    positions: dict[int, str] = {}
    for name, index in mapping.items():
        limit = size - 1 if size is not None else 1023
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= limit:
            raise table.error(
                f"{key}.{name}",
                f"expected an index 0..{limit}, found {index!r}",
                "give the 0-based position of this channel's value",
            )
        if index in positions:
            raise table.error(
                f"{key}.{name}",
                f"index {index} is already used by channel {positions[index]!r}",
                "give each channel its own position",
            )
        positions[index] = name
        out.append((name, index))
    return tuple(out)


def _serial(table: Table) -> SerialConfig:
    url = table.get("url", str, fix="e.g. url = '/dev/ttyACM0' (or 'loop://' for a test)")
    ranges = table.integer("ranges_per_frame", 3, 1, 16)
    config = SerialConfig(
        url=url,
        channels=_index_mapping(table, "channels", ranges),
        ranges_per_frame=ranges,
        baudrate=table.integer("baudrate", 115_200, 1200, 4_000_000),
        read_timeout_s=table.number("read_timeout_s", 0.02, 0.001, 1.0, "s"),
        write_timeout_s=table.number("write_timeout_s", 0.2, 0.001, 1.0, "s"),
        link_timeout_s=table.number("link_timeout_s", 0.5, 0.01, 10.0, "s"),
        reconnect_min_s=table.number("reconnect_min_s", 0.1, 0.01, 10.0, "s"),
        reconnect_max_s=table.number("reconnect_max_s", 5.0, 0.01, 300.0, "s"),
    )
    if config.reconnect_max_s < config.reconnect_min_s:
        raise table.error(
            "reconnect_max_s",
            f"expected >= reconnect_min_s ({config.reconnect_min_s}), "
            f"found {config.reconnect_max_s}",
            "raise reconnect_max_s",
        )
    table.done()
    return config


def _gym(table: Table) -> GymConfig:
    env_id = table.get("env_id", str, fix="e.g. env_id = 'trainer.envs:sim2pi/ObstacleAvoid-v0'")
    channels = _index_mapping(table, "channels", None)
    seed = table.get("seed", int, -1)
    table.done()
    return GymConfig(env_id, channels, None if seed < 0 else seed)


def _telemetry(table: Table | None, source: Path) -> TelemetryConfig:
    if table is None:
        return TelemetryConfig(path=_path(str(TelemetryConfig.path), source.parent))
    config = TelemetryConfig(
        enabled=table.get("enabled", bool, False),
        path=_path(table.get("path", str, str(TelemetryConfig.path)), source.parent),
        every_n_ticks=table.integer("every_n_ticks", 1, 1, 1_000_000),
        max_bytes=table.integer("max_bytes", 10_000_000, 10_000, 10_000_000_000),
        backups=table.integer("backups", 3, 0, 100),
    )
    table.done()
    return config


def _learning(table: Table | None, source: Path) -> LearningConfig:
    default_dir = _path(str(LearningConfig.state_dir), source.parent)
    if table is None:
        return LearningConfig(state_dir=default_dir)
    d = LearningConfig()  # the defaults, stated once (in the dataclass)
    config = LearningConfig(
        enabled=table.get("enabled", bool, d.enabled),
        epsilon_start=table.number("epsilon_start", d.epsilon_start, 0.0, 1.0),
        epsilon_floor=table.number("epsilon_floor", d.epsilon_floor, 0.0, 1.0),
        epsilon_decay=table.number("epsilon_decay", d.epsilon_decay, 0.0, 1.0),
        alpha=table.number("alpha", d.alpha, 1e-6, 1.0),
        gamma=table.number("gamma", d.gamma, 0.0, 1.0),
        state_share=table.number("state_share", d.state_share, 0.0, 0.999),
        trace_lambda=table.number("trace_lambda", d.trace_lambda, 0.0, 0.999),
        huber_delta=table.number("huber_delta", d.huber_delta, 0.0, 1e6),
        save_every=table.integer("save_every", d.save_every, 1, 10_000_000),
        keep=table.integer("keep", d.keep, 1, 1000),
        shield_distance_m=table.number("shield_distance_m", d.shield_distance_m, 0.0, 4.0, "m"),
        shield_greedy_distance_m=table.number(
            "shield_greedy_distance_m", d.shield_greedy_distance_m, 0.0, 4.0, "m"
        ),
        state_dir=_path(table.get("state_dir", str, str(LearningConfig.state_dir)), source.parent),
        alpha_omega=table.number("alpha_omega", d.alpha_omega, 0.0, 10.0),
        alpha_floor=table.number("alpha_floor", d.alpha_floor, 0.0, 1.0),
        collision_distance_m=table.number(
            "collision_distance_m", d.collision_distance_m, 0.0, 1.0, "m"
        ),
        rollback_window=table.integer("rollback_window", d.rollback_window, 1, 10_000),
        rollback_drop=table.number("rollback_drop", d.rollback_drop, 0.0, 1e9),
        rollback_epsilon_factor=table.number(
            "rollback_epsilon_factor", d.rollback_epsilon_factor, 0.0, 1.0
        ),
        recovery=_recovery(table),
    )
    if config.alpha_floor > config.alpha:
        raise table.error(
            "alpha_floor",
            f"expected <= alpha ({config.alpha}), found {config.alpha_floor}",
            "lower alpha_floor or raise alpha",
        )
    if config.epsilon_floor > config.epsilon_start:
        raise table.error(
            "epsilon_floor",
            f"expected <= epsilon_start ({config.epsilon_start}), found {config.epsilon_floor}",
            "lower epsilon_floor or raise epsilon_start",
        )
    table.done()
    return config


def _recovery(table: Table) -> tuple[tuple[float, float, float], ...]:
    """``recovery = [[left, right, duration_s], ...]``: duties in [-1, 1], durations 0..10 s."""
    steps = table.get("recovery", list, [list(step) for step in LearningConfig.recovery])
    parsed = []
    for index, step in enumerate(steps):
        numbers = (
            isinstance(step, list)
            and len(step) == 3
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in step)
        )
        if not numbers or not all(math.isfinite(v) for v in step):
            raise table.error(
                "recovery",
                f"step {index}: expected [left duty, right duty, duration_s], found {step!r}",
                "write each step as three numbers, e.g. [-0.5, -0.5, 0.6]",
            )
        left, right, duration_s = (float(v) for v in step)
        if not (-1.0 <= left <= 1.0 and -1.0 <= right <= 1.0 and 0.0 <= duration_s <= 10.0):
            raise table.error(
                "recovery",
                f"step {index}: expected duties in -1..1 and a duration in 0..10 s, found {step!r}",
                "choose duties between -1 and 1 and a duration between 0 and 10 s",
            )
        parsed.append((left, right, duration_s))
    return tuple(parsed)
