"""The ``gpio`` backend: gpiozero devices on the Pi's own pins.

Distance sensors are gpiozero ``DistanceSensor``s, whose own background thread pings the HC-SR04
about every 60 ms; the loop only reads the newest median and when it arrived, so it never
blocks on an echo. The drive is a gpiozero ``Robot`` of two ``Motor``s (IN1/IN2, optional EN)
or two ``PhaseEnableMotor``s, with PWM. The pin factory follows gpiozero's own rules
(``GPIOZERO_PIN_FACTORY``, else lgpio where it loads) unless one is injected, and one that cannot
do what the config needs (PWM, HC-SR04 edge timing) is refused before a pin is opened
(``robot.hardware.pin_factory``).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from typing import Any

from gpiozero import Button, Device, DistanceSensor, LineSensor, Motor, PhaseEnableMotor, Robot
from gpiozero.exc import GPIOZeroError, PinPWMUnsupported, PWMSoftwareFallback

from robot.config import DriveConfig, GpioConfig
from robot.errors import HardwareError
from robot.hardware.base import STOP, Hardware, Snapshot
from robot.hardware.pin_factory import (
    PIN_FACTORY_ERRORS,
    choose_pin_factory,
    pin_factory_hint,
    require_abilities,
)
from shared.spec import MotorCommand

_log = logging.getLogger(__name__)
Clock = Callable[[], float]


class TimedDistanceSensor(DistanceSensor):
    """gpiozero's DistanceSensor that also records when its newest echo arrived.

    gpiozero keeps a median of recent echoes but not their age, and a missed echo only warns
    (``DistanceSensorNoEcho``) and leaves the old median in place; the loop needs the age to
    stop the motors on a sensor that went quiet, so ``_read`` (run by gpiozero's queue thread)
    is wrapped to stamp each good echo with the backend's clock.
    """

    def __init__(self, echo: Any, trigger: Any, *, clock: Clock, **kwargs: Any) -> None:
        # Set before gpiozero's constructor starts the queue thread that calls _read.
        self._clock = clock
        #: Clock time of the newest echo (seconds); -inf before the first.
        self.last_echo_s = -math.inf
        #: Pings that came back without a usable echo.
        self.missed_echoes = 0
        # gpiozero warns "use the pigpio pin factory" (PWMSoftwareFallback) under any other
        # factory; a factory without timed edges was refused before this (require_abilities),
        # and lgpio's edges are stamped by the kernel, so the warning would only mislead.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PWMSoftwareFallback)
            super().__init__(echo, trigger, **kwargs)

    def close(self) -> None:
        """Stop the ping thread first, then close (gpiozero 2.0 drops the trigger pin first, and a
        ping in flight then dies with an AttributeError in its thread)."""
        queue = getattr(self, "_queue", None)
        if queue is not None and queue.is_alive():
            queue.stop()
        super().close()

    def _read(self) -> float | None:
        value = super()._read()
        if value is None:
            self.missed_echoes += 1
        else:
            self.last_echo_s = self._clock()
        return value

    def reading(self) -> tuple[float, float]:
        """(distance in metres, clock time of the newest echo), or (NaN, -inf) before the first.

        The number gpiozero's ``distance`` gives (the median of the queued echoes × max
        distance), computed here because the loop asks every tick and gpiozero's route to it
        is five property calls and the statistics module. ``sorted`` copies the queue in one
        C call, under the GIL, so the queue thread cannot append half-way through.
        """
        when = self.last_echo_s
        echoes = sorted(self._queue.queue)  # each echo as a fraction of max_distance
        n = len(echoes)
        if when == -math.inf or not n:
            return math.nan, when
        half = n // 2
        median = echoes[half] if n % 2 else (echoes[half - 1] + echoes[half]) / 2
        return median * self._max_distance, when


class GpioHardware(Hardware):
    """Sensors and motors through gpiozero; channel order follows the bundle's spec."""

    name = "gpio"

    def __init__(
        self,
        config: GpioConfig,
        channels: tuple[str, ...],
        *,
        clock: Clock,
        pin_factory: Any = None,
    ) -> None:
        """Open every device; on failure close what was opened and raise HardwareError.

        A pin factory that does not load, or cannot do what ``config`` needs, raises
        ``PinFactoryError`` (a HardwareError) before any pin is opened.

        Args:
            config: the ``[hardware.gpio]`` section.
            channels: the spec's observation channels, in order.
            clock: the loop's monotonic clock (seconds), used to date the readings.
            pin_factory: a gpiozero pin factory; None follows gpiozero's own choice.
        """
        #: The pin factory, what it can do and why gpiozero skipped the ones it prefers.
        self.pin_choice = choose_pin_factory(pin_factory)
        require_abilities(self.pin_choice, config)
        pin_factory = self.pin_choice.factory
        self._clock = clock
        self._devices: list[Device] = []
        self._closed = False
        self._readers: list[Callable[[], tuple[float, float]]] = []
        self._bumper: Button | None = None
        #: The duties the motors were last set to (None: unknown, so the next drive writes).
        self._applied: MotorCommand | None = None
        self.sensors: dict[str, TimedDistanceSensor] = {}
        factory = {"pin_factory": pin_factory}
        try:
            # The drive first, so that the motors are held at duty 0 while the rest is opened.
            self.robot = self._open(
                "drive", lambda: _build_robot(config.drive, pin_factory), config.drive
            )
            self.robot.stop()
            readers: dict[str, Callable[[], tuple[float, float]]] = {}
            for sensor_cfg in config.distance_sensors:
                sensor = self._open(
                    f"distance sensor {sensor_cfg.channel!r}",
                    lambda c=sensor_cfg: TimedDistanceSensor(
                        c.echo,
                        c.trigger,
                        clock=clock,
                        max_distance=c.max_distance_m,
                        queue_len=c.queue_len,
                        partial=True,  # never block the loop waiting for a full queue
                        **factory,
                    ),
                    sensor_cfg,
                )
                self.sensors[sensor_cfg.channel] = sensor
                readers[sensor_cfg.channel] = sensor.reading
            for line_cfg in config.line_sensors:
                line = self._open(
                    f"line sensor {line_cfg.channel!r}",
                    lambda c=line_cfg: LineSensor(
                        c.pin, pull_up=c.pull_up, partial=True, **factory
                    ),
                    line_cfg,
                )
                readers[line_cfg.channel] = lambda s=line: (float(s.value), self._clock())
            if config.bumper is not None:
                bumper_cfg = config.bumper
                self._bumper = self._open(
                    "bumper",
                    lambda: Button(bumper_cfg.pin, pull_up=bumper_cfg.pull_up, **factory),
                    bumper_cfg,
                )
                if bumper_cfg.channel is not None:
                    readers[bumper_cfg.channel] = lambda b=self._bumper: (
                        float(b.is_pressed),
                        self._clock(),
                    )
            missing = [name for name in channels if name not in readers]
            if missing:
                raise HardwareError(
                    f"[hardware.gpio] feeds no sensor to channels {missing}; map each of "
                    f"{list(channels)}"
                )
            self._readers = [readers[name] for name in channels]
        except BaseException:
            self.close()
            raise
        self.pin_factory = self.robot.pin_factory

    def _open(self, what: str, build: Callable[[], Any], config: object) -> Any:
        try:
            device = build()
        except PIN_FACTORY_ERRORS as exc:
            hint = pin_factory_hint(exc)
            if isinstance(exc, PinPWMUnsupported):
                hint = (
                    "this pin factory cannot do PWM on these pins: set pwm = false in "
                    "[hardware.gpio.drive], or use a factory with PWM (lgpio on a Pi; for mock "
                    "pins set GPIOZERO_MOCK_PIN_CLASS=mockpwmpin)"
                )
            raise HardwareError(
                f"[hardware.gpio] cannot open the {what} ({config}): "
                f"{type(exc).__name__}: {str(exc) or 'no details'}; {hint}"
            ) from exc
        self._devices.append(device)
        return device

    def snapshot(self) -> Snapshot:
        """The newest reading of every channel and the bumper; never waits for an echo."""
        values, read_at = zip(*[read() for read in self._readers], strict=True)
        bumper = None if self._bumper is None else bool(self._bumper.is_pressed)
        return Snapshot(values, read_at, bumper)

    def drive(self, command: MotorCommand) -> None:
        """Set the motors' PWM duties; a motor already at its duty is not written again.

        gpiozero's ``Robot.value`` costs ~50 µs (two motors, two PWM pins each), and most ticks
        repeat the previous action, and many actions change one side only. ``stop`` always
        writes both motors, whatever was applied.
        """
        applied = self._applied
        if command is applied:
            return
        self._applied = None  # unknown until the writes below have succeeded
        if applied is None or command.left != applied.left:
            self.robot.left_motor.value = command.left
        if applied is None or command.right != applied.right:
            self.robot.right_motor.value = command.right
        self._applied = command

    def stop(self) -> None:
        """Both motors to duty 0."""
        if not self._closed:
            self._applied = None
            self.robot.stop()
            self._applied = STOP

    def close(self) -> None:
        """Stop the motors, then close every device (the drive last); safe to call twice."""
        if self._closed:
            return
        robot = getattr(self, "robot", None)
        if robot is not None:
            try:
                robot.stop()
            except GPIOZeroError as exc:
                _log.error("could not stop the motors while closing: %r", exc)
        self._closed = True
        for device in reversed(self._devices):
            try:
                device.close()
            except GPIOZeroError as exc:
                _log.error("could not close %r: %r", device, exc)
        self._devices.clear()

    def describe(self) -> list[str]:
        """Pin factory (and the factories gpiozero skipped), each sensor and the drive."""
        first, *skipped = self.pin_choice.describe()
        lines = [f"gpio: {first}", *skipped]
        for channel, sensor in self.sensors.items():
            lines.append(
                f"  {channel}: HC-SR04 trigger {sensor.trigger.info.name}, echo "
                f"{sensor.echo.info.name}, max {sensor.max_distance} m"
            )
        if self._bumper is not None:
            lines.append(f"  bumper: {self._bumper.pin.info.name}")
        left, right = self.robot.left_motor, self.robot.right_motor
        lines.append(f"  drive: left {_motor_pins(left)}, right {_motor_pins(right)}")
        return lines


def _build_robot(config: DriveConfig, pin_factory: Any) -> Robot:
    motors: list[Motor | PhaseEnableMotor] = []
    try:
        for side in (config.left, config.right):
            if config.kind == "motor":
                motors.append(
                    Motor(
                        side.forward,
                        side.backward,
                        enable=side.enable,
                        pwm=config.pwm,
                        pin_factory=pin_factory,
                    )
                )
            else:
                motors.append(
                    PhaseEnableMotor(
                        side.phase, side.enable, pwm=config.pwm, pin_factory=pin_factory
                    )
                )
        return Robot(left=motors[0], right=motors[1], pin_factory=pin_factory)
    except BaseException:
        for motor in motors:
            motor.close()
        raise


def _motor_pins(motor: Any) -> str:
    names = ("forward", "backward", "phase", "enable")
    devices = [(name, getattr(motor, f"{name}_device", None)) for name in names]
    return " ".join(f"{name}={dev.pin.info.name}" for name, dev in devices if dev is not None)
