"""``[hardware]``: one backend's section, a tagged union (``backend`` names the section).

``gpio`` (the Pi's own pins), ``serial`` (a microcontroller's line protocol), ``sim`` (the
simulated world behind mock pins) and ``gym`` (a Gymnasium env, on the laptop; its section is in
``robot.config.gym``). Each knows its ``backend`` name and the observation channels it feeds
(``channel_names``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from robot.config.gym import GymConfig
from robot.config.rules import Choice, IndexMap, Pin, Problem, Rule, pin_label
from robot.config.section import (
    Section,
    choice,
    flag,
    gpio_pin,
    integer,
    not_below,
    number,
    parse_section,
    read_checked,
    ruled,
    section,
    sections,
    text,
)
from robot.config.toml_table import Table
from shared.world import MOTOR_DEAD_BAND, MOTOR_TIME_CONSTANT_S, reference_sensors

DRIVE_KINDS = ("motor", "phase_enable")
#: The simulated robot's rangers, in the order of its ``[[distance_sensors]]``.
SIM_RANGERS = tuple(sensor.name for sensor in reference_sensors())
#: The roles of a drive side's pins, in the order pins are claimed.
_MOTOR_ROLES = ("forward", "backward", "phase", "enable")
#: The pins each drive kind needs, and those it may also have.
_DRIVE_PINS = {
    "motor": (("forward", "backward"), ("enable",)),
    "phase_enable": (("phase", "enable"), ()),
}


@dataclass(frozen=True)
class DistanceSensorConfig(Section):
    """An HC-SR04 on two GPIOs feeding one observation channel (metres)."""

    toml_path: ClassVar[str] = "hardware.gpio.distance_sensors"
    channel: str = text(fix="name the bundle's observation channel it feeds")
    trigger: Pin = gpio_pin()
    echo: Pin = gpio_pin()
    max_distance_m: float = number(2.0, low=0.05, high=4.0, unit="m")
    #: gpiozero's median window; readings arrive about every 60 ms per sensor.
    queue_len: int = integer(3, low=1, high=30)


@dataclass(frozen=True)
class LineSensorConfig(Section):
    """A reflectance line sensor feeding a 0/1 channel."""

    toml_path: ClassVar[str] = "hardware.gpio.line_sensors"
    channel: str = text(fix="name the bundle's observation channel it feeds")
    pin: Pin = gpio_pin()
    pull_up: bool = flag(False)


@dataclass(frozen=True)
class BumperConfig(Section):
    """A bump switch (a gpiozero Button); reported in every snapshot and in telemetry."""

    toml_path: ClassVar[str] = "hardware.gpio.bumper"
    pin: Pin = gpio_pin()
    pull_up: bool = flag(True)
    #: Optional observation channel fed with 1.0 while pressed.
    channel: str | None = text(None)


@dataclass(frozen=True)
class MotorPins(Section):
    """One side of the drive: ``forward``/``backward`` (+ optional ``enable``), or ``phase``."""

    toml_path: ClassVar[str] = "hardware.gpio.drive.<side>"
    forward: Pin | None = gpio_pin(optional=True)
    backward: Pin | None = gpio_pin(optional=True)
    enable: Pin | None = gpio_pin(optional=True)
    phase: Pin | None = gpio_pin(optional=True)


@dataclass(frozen=True)
class DriveConfig(Section):
    """Two motors as a gpiozero Robot; ``motor`` = L298N-style IN1/IN2 (+EN), or phase/enable."""

    toml_path: ClassVar[str] = "hardware.gpio.drive"
    kind: str = choice(DRIVE_KINDS)
    left: MotorPins = section(MotorPins)
    right: MotorPins = section(MotorPins)
    pwm: bool = flag(True)

    def cross_checks(self) -> Iterator[Problem | None]:
        """Each side has the pins its kind needs, and no pin of the other kind."""
        needed, optional = _DRIVE_PINS.get(self.kind, ((), ()))
        other = next(kind for kind in DRIVE_KINDS if kind != self.kind)
        for side in ("left", "right"):
            motor = getattr(self, side)
            for role in _MOTOR_ROLES:
                given = getattr(motor, role) is not None
                if role in needed and not given:
                    fix = f"kind = {self.kind!r} needs {' and '.join(needed)}: add `{role} = …`"
                    yield Problem(f"{side}.{role}", "is missing", fix)
                elif given and role not in needed + optional:
                    problem = f"is not used with kind = {self.kind!r}"
                    yield Problem(f"{side}.{role}", problem, f"remove it or set kind = {other!r}")


@dataclass(frozen=True)
class GpioConfig(Section):
    """Sensors and drive on the Pi's own GPIOs through gpiozero."""

    backend: ClassVar[str] = "gpio"
    toml_path: ClassVar[str] = "hardware.gpio"
    distance_sensors: tuple[DistanceSensorConfig, ...] = sections(DistanceSensorConfig)
    line_sensors: tuple[LineSensorConfig, ...] = sections(LineSensorConfig)
    bumper: BumperConfig | None = section(BumperConfig, absent="none")
    drive: DriveConfig = section(DriveConfig)

    def channel_names(self) -> tuple[str, ...]:
        """The observation channels these sensors feed."""
        return tuple(channel for _, channel in self._channels())

    def cross_checks(self) -> Iterator[Problem | None]:
        """Each pin drives one device; each channel is fed by one sensor."""
        yield _first_repeat(
            self._pins(), pin_label, "pin {!r} is already used by", "give each device its own pin"
        )
        yield _first_repeat(
            self._channels(),
            str,
            "channel {!r} is already fed by",
            "map each channel to exactly one sensor",
        )

    def _channels(self) -> Iterator[tuple[str, str]]:
        for index, sensor in enumerate(self.distance_sensors):
            yield f"distance_sensors[{index}].channel", sensor.channel
        for index, line in enumerate(self.line_sensors):
            yield f"line_sensors[{index}].channel", line.channel
        if self.bumper is not None and self.bumper.channel is not None:
            yield "bumper.channel", self.bumper.channel

    def _pins(self) -> Iterator[tuple[str, Pin]]:
        for index, sensor in enumerate(self.distance_sensors):
            yield f"distance_sensors[{index}].trigger", sensor.trigger
            yield f"distance_sensors[{index}].echo", sensor.echo
        for index, line in enumerate(self.line_sensors):
            yield f"line_sensors[{index}].pin", line.pin
        if self.bumper is not None:
            yield "bumper.pin", self.bumper.pin
        for side in ("left", "right"):
            for role in _MOTOR_ROLES:
                if (value := getattr(getattr(self.drive, side), role)) is not None:
                    yield f"drive.{side}.{role}", value


def _first_repeat(
    uses: Iterable[tuple[str, Any]], label: Callable[[Any], str], problem: str, fix: str
) -> Problem | None:
    """The second use of a pin (or channel), naming the key of the first."""
    first: dict[str, str] = {}
    for key, value in uses:
        name = label(value)
        if name in first:
            return Problem(key, problem.format(value), fix, ref=first[name])
        first[name] = key
    return None


@dataclass(frozen=True)
class SerialConfig(Section):
    """A microcontroller on a UART/USB link speaking sim2pi's line protocol."""

    backend: ClassVar[str] = "serial"
    toml_path: ClassVar[str] = "hardware.serial"
    url: str = text(fix="e.g. url = '/dev/ttyACM0' (or 'loop://' for a test)")
    #: Observation channel → position of its range in the ``$S`` frame (0-based).
    channels: tuple[tuple[str, int], ...] = ruled(IndexMap(size="ranges_per_frame"))
    #: Ranges per ``$S`` frame; a frame with another count is dropped as corrupt.
    ranges_per_frame: int = integer(3, low=1, high=16)
    baudrate: int = integer(115_200, low=1200, high=4_000_000)
    #: Longest a read waits for bytes before looking at the stop flag again (seconds).
    read_timeout_s: float = number(0.02, low=0.001, high=1.0, unit="s")
    #: Longest a write may block (seconds); a port that blocks longer is treated as lost.
    #: pyserial checks it after writing, so a process paused longer (a loaded CPU) also trips
    #: it: keep it well above a tick's worst scheduling delay.
    write_timeout_s: float = number(0.2, low=0.001, high=1.0, unit="s")
    #: No valid frame for this long: the link is down and the port is reopened.
    link_timeout_s: float = number(0.5, low=0.01, high=10.0, unit="s")
    reconnect_min_s: float = number(0.1, low=0.01, high=10.0, unit="s")
    reconnect_max_s: float = number(5.0, low=0.01, high=300.0, unit="s")

    def channel_names(self) -> tuple[str, ...]:
        """The observation channels the microcontroller's frames feed."""
        return tuple(name for name, _ in self.channels)

    def cross_checks(self) -> Iterator[Problem | None]:
        """The back-off grows from its minimum to its maximum."""
        yield not_below(self, "reconnect_max_s", "reconnect_min_s")


@dataclass(frozen=True)
class SimConfig(Section):
    """The simulated world behind gpiozero mock pins (hardware in the loop without hardware)."""

    backend: ClassVar[str] = "sim"
    toml_path: ClassVar[str] = "hardware.sim"
    #: The pins, as in ``[hardware.gpio]``; distance sensor i is the world's ranger i (required in
    #: ``robot.toml``; None in Python code: the world alone, as the MCU emulator uses it).
    gpio: GpioConfig | None = section(GpioConfig)
    #: Seeds the arena, the start pose and the sensor noise: same seed, same run.
    seed: int = integer(0, low=0, high=2**32 - 1)
    #: Side of the square arena (metres).
    arena_m: float = number(4.0, low=1.0, high=20.0, unit="m")
    #: Discs and boxes placed at random in the arena.
    obstacles: int = integer(6, low=0, high=50)
    #: Standard deviation of each range reading's noise (metres).
    noise_std_m: float = number(0.01, low=0.0, high=0.5, unit="m")
    #: Chance that a ping gets no echo (the sensor then reads its maximum range).
    dropout_prob: float = number(0.0, low=0.0, high=1.0)
    #: Wheel speed at full duty relative to the reference motor (both sides).
    motor_gain: float = number(1.0, low=0.1, high=2.0)
    # A hidden robot (calibration tests and benchmarks): defaults are the simulator's reference.
    #: Each motor's gain, times ``motor_gain`` (cheap TT motors differ by side).
    left_gain: float = number(1.0, low=0.1, high=2.0)
    right_gain: float = number(1.0, low=0.1, high=2.0)
    #: Duty below which a wheel does not turn.
    dead_band: float = number(MOTOR_DEAD_BAND, low=0.0, high=0.9)
    #: The wheels' first-order lag (seconds).
    time_constant_s: float = number(MOTOR_TIME_CONSTANT_S, low=0.01, high=2.0, unit="s")
    #: The duties reach the motors this many world steps (control periods) later.
    latency_ticks: int = integer(0, low=0, high=20)
    #: The side rangers' angle off straight ahead (degrees), on the same mount circle.
    side_ranger_deg: float = number(45.0, low=1.0, high=90.0, unit="deg")

    def channel_names(self) -> tuple[str, ...]:
        """The observation channels the simulated sensors feed (none without pins)."""
        return () if self.gpio is None else self.gpio.channel_names()

    def cross_checks(self) -> Iterator[Problem | None]:
        """No more distance sensors than the simulated robot has rangers."""
        if self.gpio is not None and len(self.gpio.distance_sensors) > len(SIM_RANGERS):
            found = len(self.gpio.distance_sensors)
            problem = (
                f"expected at most {len(SIM_RANGERS)} (the simulated robot's rangers: "
                f"{', '.join(SIM_RANGERS)}), found {found}"
            )
            yield Problem("gpio.distance_sensors", problem, "remove the extra sensors")


#: The ``[hardware]`` section: one backend's config, tagged by its ``backend`` name.
HardwareConfig = GpioConfig | SerialConfig | SimConfig | GymConfig
#: Each backend's section, in the order errors list them.
HARDWARE_SECTIONS: dict[str, type[Section]] = {
    cls.backend: cls for cls in (GpioConfig, SerialConfig, GymConfig, SimConfig)
}
BACKENDS = tuple(HARDWARE_SECTIONS)


class Backend(Rule):
    """``[hardware]``: ``backend = name`` and the one ``[hardware.name]`` table."""

    toml_type = dict

    def read(self, table: Table, key: str, default: Any, base: Path) -> Any:
        """The backend's section, parsed; another backend's table is refused."""
        hardware = table.table(key)
        assert hardware is not None
        backend = read_checked(Choice(BACKENDS), hardware, "backend")
        for name in HARDWARE_SECTIONS:
            if name != backend and hardware.table(name, optional=True) is not None:
                raise hardware.error(
                    name,
                    f"is given but backend = {backend!r}",
                    f"remove [hardware.{name}] or set backend = {name!r}",
                )
        sub = hardware.table(backend, optional=True)
        if sub is None:
            raise hardware.error(backend, "is missing", f"add a [hardware.{backend}] table")
        hardware.done()
        return parse_section(HARDWARE_SECTIONS[backend], sub, base)
