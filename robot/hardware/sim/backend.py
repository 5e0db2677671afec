"""The ``sim`` backend: the simulated world behind gpiozero mock pins (HIL without hardware).

The runtime's own gpio code path runs unchanged (``DistanceSensor``, bumper ``Button``, a
``Robot`` of PWM ``Motor``s) on a ``SimPinFactory``: the drive's PWM pin states are read as
the motor duties, each sensor's echo pin pulses for the world's echo time, and the bumper's pin
follows the world's contacts. Time is explicit: ``WorldClock`` is the loop's clock, and waiting
for the next tick steps the world to it, so runs are deterministic and faster than real time.
Sensors are pinged by ``snapshot`` (once a tick) instead of gpiozero's background thread.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

import numpy as np

from robot.config import GpioConfig, SimConfig
from robot.errors import ConfigError
from robot.hardware.base import Snapshot
from robot.hardware.gpio import GpioHardware
from robot.hardware.sim.pin_record import PinRecorder, pins_file
from robot.hardware.sim.pins import NO_ECHO_PULSE_S, SimPin, SimPinFactory, SimTriggerPin
from shared.spec import MotorCommand
from shared.world import (
    ROBOT_RADIUS_M,
    SPEED_OF_SOUND_M_S,
    Arena,
    ContactTally,
    DriveParams,
    Pose,
    World,
    reference_sensors,
    turned_side_ranger,
)

_log = logging.getLogger(__name__)

#: The reference robot's side rangers (degrees off ahead): ``[hardware.sim] side_ranger_deg``.
SIDE_RANGER_DEG = 45.0
#: The start pose keeps at least this gap (metres) to every wall and obstacle.
START_CLEARANCE_M = 0.3


class WorldClock:
    """The loop's clock on the world's time: waiting steps the world (seconds)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._lock = threading.Lock()
        #: Called before each step, to apply the motor duties the pins hold.
        self.before_step: list[Any] = []
        #: Called after each step, to update pins that follow the world.
        self.after_step: list[Any] = []
        #: World steps between the pins' duties and the motors (``delay_duties``).
        self.latency_ticks = 0

    def now(self) -> float:
        """The world's simulated time in seconds."""
        return self.world.time_s

    def advance(self, seconds: float) -> None:
        """Step the world by ``seconds`` of simulated time (computation time, a stall)."""
        if seconds < 0:
            raise ValueError(f"advance: expected seconds >= 0, found {seconds!r}")
        if seconds == 0:
            return
        with self._lock:
            for hook in self.before_step:
                hook()
            self.world.step(seconds)
            for hook in self.after_step:
                hook()

    def wait_until(self, deadline_s: float, wake: threading.Event) -> None:
        """Step the world to ``deadline_s`` (unless woken, when no time passes)."""
        if not wake.is_set():
            self.advance(max(0.0, deadline_s - self.now()))


class SimHardware(ContactTally, GpioHardware):
    """The gpio backend's devices on pins wired to a ``World``."""

    name = "sim"

    def __init__(self, config: GpioConfig, channels: tuple[str, ...], clock: WorldClock) -> None:
        """Wire the pins of ``config`` to ``clock.world``, then open the gpio devices on them.

        Args:
            config: pins as in ``[hardware.gpio]``; distance sensor ``i`` is the world's sensor
                ``i`` (the reference robot: left, front, right).
            channels: the spec's observation channels, in order.
            clock: the world's clock, which the loop must use too.
        """
        world = clock.world
        self.clock = clock
        if len(config.distance_sensors) > len(world.sensors):
            raise ConfigError(
                f"sim: {len(config.distance_sensors)} distance sensors configured but the world "
                f"has {len(world.sensors)} ({[s.name for s in world.sensors]}); configure at most "
                "that many"
            )
        self.world = world
        self.factory = SimPinFactory(clock.now)
        for index, sensor in enumerate(config.distance_sensors):
            echo = self.factory.pin(sensor.echo, pin_class=SimPin)
            self.factory.pin(
                sensor.trigger,
                pin_class=SimTriggerPin,
                echo_pin=echo,
                echo_s=lambda i=index: _echo_or_timeout_s(world, i),
            )
        self._bumper_pin = None
        if config.bumper is not None:
            self._bumper_pin = self.factory.pin(config.bumper.pin, pin_class=SimPin)
            self._pull_up = config.bumper.pull_up
        super().__init__(config, channels, clock=clock.now, pin_factory=self.factory)
        for sensor in self.sensors.values():
            # The loop pings each sensor once a tick on simulated time, not gpiozero's thread.
            sensor._queue.stop()
            # The world times echoes at 343.0 m/s, gpiozero converts at 343.26 m/s: the same
            # constant on both sides removes a 0.08 % scale error that is not the sensor's.
            sensor.speed_of_sound = SPEED_OF_SOUND_M_S
        self._follow_bumper()
        clock.before_step.append(self._apply_duties)
        clock.after_step.append(self._follow_bumper)
        clock.after_step.append(self._count)
        # SIM2PI_SIM_PINS_FILE: the drive pins' states, for a reader outside this process.
        path = pins_file()
        self._pin_recorder = None if path is None else PinRecorder(path, _drive_pins(self.robot))
        self._record_pins()

    def snapshot(self) -> Snapshot:
        """Ping every sensor once (on simulated time), then the gpio backend's snapshot."""
        if not self._closed:
            for sensor in self.sensors.values():
                value = sensor._read()
                if value is not None:
                    sensor._queue.queue.append(value)
        return super().snapshot()

    def drive(self, command: MotorCommand) -> None:
        """The gpio backend's drive, then the pins recorded (``SIM2PI_SIM_PINS_FILE``)."""
        super().drive(command)
        self._record_pins()

    def stop(self) -> None:
        """The gpio backend's stop, then the pins recorded (``SIM2PI_SIM_PINS_FILE``)."""
        super().stop()
        self._record_pins()

    def close(self) -> None:
        """Stop the motors, close the devices and log what the simulated robot did."""
        if not self._closed and self.steps:
            _log.info("sim: %s", self.summary())
        if not self._closed and getattr(self, "_pin_recorder", None) is not None:
            super().stop()  # recorded before the devices close (close stops them too)
            self._record_pins()
        super().close()

    def _record_pins(self) -> None:
        if getattr(self, "_pin_recorder", None) is not None and not self._closed:
            self._pin_recorder.record()

    def summary(self) -> str:
        """Simulated time, distance and collisions so far, in one line."""
        world = self.world
        return (
            f"{world.time_s:.1f} s simulated, distance {world.distance_travelled_m:.2f} m, "
            f"{self.collisions} collisions ({self.collision_steps} of {self.steps} steps in "
            "collision)"
        )

    def _apply_duties(self) -> None:
        if self._closed:
            self.world.set_duties(0.0, 0.0)
            return
        left, right = self.robot.left_motor, self.robot.right_motor
        self.world.set_duties(_pin_duty(left), _pin_duty(right))

    def _follow_bumper(self) -> None:
        pin = self._bumper_pin
        if pin is None or self._closed:
            return
        pressed = self.world.bumper_pressed
        # A switch to ground reads low when pressed (pull-up); to 3.3 V reads high.
        if pressed == self._pull_up:
            pin.drive_low()
        else:
            pin.drive_high()

    def describe(self) -> list[str]:
        """The backend (sim, on simulated pins), the gpio devices, and the world."""
        arena = self.world.arena
        gpio_lines = super().describe()[1:]  # the first is the gpio backend's "pin factory" line
        return [
            "sim: simulated world behind gpiozero mock pins (SimPinFactory, simulated time)",
            *gpio_lines,
            f"  world: arena {arena.width_m} x {arena.height_m} m, "
            f"{len(self.world.sensors)} rangers, t = {self.world.time_s:.2f} s",
        ]


def build_world(config: SimConfig) -> World:
    """The reference robot in a random arena, all drawn from ``config.seed``."""
    rng = np.random.default_rng(config.seed)
    side_m = config.arena_m
    arena = Arena.random(rng, width_m=side_m, height_m=side_m, obstacles=config.obstacles)
    margin_m = ROBOT_RADIUS_M + START_CLEARANCE_M
    for _ in range(10_000):
        x_m, y_m, heading_rad = rng.uniform(
            (margin_m, margin_m, -np.pi), (side_m - margin_m,) * 2 + (np.pi,)
        )
        if arena.clearance_m(x_m, y_m, ROBOT_RADIUS_M) > START_CLEARANCE_M:
            break
    else:  # only the drawn world can tell: a config mistake all the same (one line, exit 2)
        raise ConfigError(
            f"[hardware.sim] no free start pose in a {side_m} m arena with {config.obstacles} "
            "obstacles; use fewer obstacles or a larger arena_m"
        )
    drive = DriveParams(
        time_constant_s=config.time_constant_s,
        dead_band=config.dead_band,
        left_gain=config.motor_gain * config.left_gain,
        right_gain=config.motor_gain * config.right_gain,
    )
    sensors = reference_sensors(config.noise_std_m, config.dropout_prob)
    if config.side_ranger_deg != SIDE_RANGER_DEG:
        sensors = tuple(turned_side_ranger(sensor, config.side_ranger_deg) for sensor in sensors)
    return World(
        arena, rng, Pose(float(x_m), float(y_m), float(heading_rad)), drive=drive, sensors=sensors
    )


def open_sim(config: SimConfig, channels: tuple[str, ...]) -> SimHardware:
    """The sim backend on a fresh world; the loop must run on the returned ``.clock``."""
    if config.gpio is None:  # only a config built in code can lack it; robot.toml requires it
        raise ConfigError("[hardware.sim.gpio]: expected the pins the simulated devices use")
    clock = WorldClock(build_world(config))
    hardware = SimHardware(config.gpio, channels, clock)
    delay_duties(clock, config.latency_ticks)
    return hardware


def delay_duties(clock: WorldClock, ticks: int) -> None:
    """Actuation latency: each world step gets the duties the pins held ``ticks`` steps before
    (the motors start stopped). Its hook runs after the backend's, which sets the pins' duties."""
    clock.latency_ticks = ticks
    if ticks == 0:
        return
    world = clock.world
    pending: deque[tuple[float, float]] = deque([(0.0, 0.0)] * ticks)

    def apply_late() -> None:
        pending.append(world.duties)
        world.set_duties(*pending.popleft())

    clock.before_step.append(apply_late)


def _echo_or_timeout_s(world: World, index: int) -> float:
    echo_s = world.echo_time_s(index)
    return NO_ECHO_PULSE_S if echo_s is None else echo_s


def _drive_pins(robot: Any) -> dict[str, Any]:
    """The drive's pins by name (GPIO12, …): each motor's forward/backward/phase/enable."""
    pins = {}
    for motor in (robot.left_motor, robot.right_motor):
        for role in ("forward_device", "backward_device", "phase_device", "enable_device"):
            device = getattr(motor, role, None)
            if device is not None:
                pins[device.pin.info.name] = device.pin
    return pins


def _pin_duty(motor: Any) -> float:
    """A motor's signed duty in [-1, 1] as its pins hold it now (not its device's value)."""
    forward = getattr(motor, "forward_device", None)
    if forward is not None:
        duty = float(forward.pin.state) - float(motor.backward_device.pin.state)
        enable = getattr(motor, "enable_device", None)
        return duty * (1.0 if enable is None else float(enable.pin.state))
    sign = -1.0 if motor.phase_device.pin.state else 1.0
    return sign * float(motor.enable_device.pin.state)


__all__ = ["SimHardware", "WorldClock", "build_world", "open_sim"]
