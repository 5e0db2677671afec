"""The gpio backend on gpiozero's MockFactory: duties on the pins, non-blocking reads, cleanup."""

from __future__ import annotations

import math
import random
import time
from typing import Any

import pytest
from gpiozero import LED
from gpiozero.pins.mock import MockFactory, MockPWMPin

from robot.cli.bench import simulated_gpio
from robot.config import DriveConfig, GpioConfig, LineSensorConfig, MotorPins
from robot.errors import HardwareError
from robot.hardware.gpio import GpioHardware
from shared.spec import MotorCommand

CHANNELS = ("left_distance_m", "front_distance_m", "right_distance_m")


def test_duties_reach_the_pins_and_repeats_are_not_rewritten() -> None:
    factory, config, _ = simulated_gpio(CHANNELS)
    with GpioHardware(config, CHANNELS, clock=time.monotonic, pin_factory=factory) as hardware:
        hardware.drive(MotorCommand(0.8, -0.6))
        pins = {n: factory.pin(n) for n in (12, 16, 13, 19)}
        assert [float(p.state) for p in pins.values()] == [0.8, 0.0, 0.0, 0.6]
        changes = len(pins[12].states)
        hardware.drive(MotorCommand(0.8, -0.6))
        assert len(pins[12].states) == changes
        hardware.stop()
        assert [float(p.state) for p in pins.values()] == [0.0] * 4
        hardware.drive(MotorCommand(0.8, -0.6))  # after a stop the same command is written again
        assert float(pins[12].state) == 0.8
    assert [float(p.state) for p in pins.values()] == [0.0] * 4
    hardware.close()  # twice is fine
    factory.reset()


def test_snapshot_never_blocks_and_dates_each_echo() -> None:
    factory, config, triggers = simulated_gpio(CHANNELS, (0.3, 0.9, 1.5))
    with GpioHardware(config, CHANNELS, clock=time.monotonic, pin_factory=factory) as hardware:
        start = time.monotonic()
        hardware.snapshot()
        # Blocking would mean waiting for an echo (up to 0.1 s) or for gpiozero's median queue
        # to fill (3 pings, ~0.2 s); a snapshot only reads what the sensor threads last stored.
        assert time.monotonic() - start < 0.1
        deadline = time.monotonic() + 3.0
        while not all(t > start for t in hardware.snapshot().read_at_s):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        snapshot = hardware.snapshot()
        # Mock echo pulses are timed by threads, so on a loaded machine a reading can be off by
        # tens of centimetres (1 ms of scheduling delay is 17 cm); gpiozero owns the arithmetic.
        assert all(0.0 <= value <= 2.0 for value in snapshot.values)
        triggers[0].echo_enabled = False
        time.sleep(1.0)
        stale = hardware.snapshot()
        left_age, front_age = (time.monotonic() - t for t in stale.read_at_s[:2])
        assert left_age > 0.85  # nothing since it went quiet (a ping in flight ends in 0.1 s)
        assert front_age < left_age - 0.3  # the others kept answering
        assert hardware.sensors["left_distance_m"].missed_echoes >= 1
    factory.reset()


def test_phase_enable_drive_and_line_sensor_channel() -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    drive = DriveConfig(
        "phase_enable", MotorPins(phase=5, enable=12), MotorPins(phase=6, enable=13)
    )
    config = GpioConfig((), (LineSensorConfig("on_line", 21),), None, drive)
    with GpioHardware(config, ("on_line",), clock=time.monotonic, pin_factory=factory) as hardware:
        hardware.drive(MotorCommand(-0.5, 0.25))
        assert float(factory.pin(12).state) == 0.5 and factory.pin(5).state == 1
        assert float(factory.pin(13).state) == 0.25 and factory.pin(6).state == 0
        for level, expected in (
            (factory.pin(21).drive_high, 1.0),
            (factory.pin(21).drive_low, 0.0),
        ):
            level()
            deadline = time.monotonic() + 2.0
            while hardware.snapshot().values != (expected,):  # gpiozero's 100 Hz sampling
                assert time.monotonic() < deadline, hardware.snapshot()
                time.sleep(0.01)
        assert "phase=GPIO5 enable=GPIO12" in hardware.describe()[-1]
    assert float(factory.pin(12).state) == 0.0
    factory.reset()


def test_a_pin_already_in_use_is_a_hardware_error_and_nothing_is_left_open() -> None:
    factory, config, _ = simulated_gpio(CHANNELS)
    squatter = LED(27, pin_factory=factory)  # the front ranger's echo pin
    with pytest.raises(HardwareError) as info:
        GpioHardware(config, CHANNELS, clock=time.monotonic, pin_factory=factory)
    message = str(info.value)
    assert "cannot open the distance sensor 'front_distance_m'" in message
    assert "GPIOPinInUse" in message
    squatter.close()
    # The drive opened before the failure was closed again: its pins can be claimed anew.
    LED(12, pin_factory=factory).close()
    factory.reset()


def test_a_channel_without_a_sensor_is_refused() -> None:
    factory, config, _ = simulated_gpio(CHANNELS[:2])
    with pytest.raises(HardwareError, match=r"feeds no sensor to channels \['right_distance_m'\]"):
        GpioHardware(config, CHANNELS, clock=time.monotonic, pin_factory=factory)
    factory.reset()


def test_a_reading_is_gpiozeros_distance_with_its_echo_time() -> None:
    factory, config, _ = simulated_gpio(CHANNELS)
    with GpioHardware(config, CHANNELS, clock=time.monotonic, pin_factory=factory) as hardware:
        sensor = hardware.sensors["front_distance_m"]
        sensor._queue.stop()  # the queue is filled by hand below, as gpiozero's thread would
        sensor._queue.queue.clear()
        sensor.last_echo_s = -math.inf
        value, when = sensor.reading()
        assert math.isnan(value) and when == -math.inf  # before the first echo: no reading
        sensor.last_echo_s = 12.5
        rng = random.Random(3)
        for _ in range(2 * sensor._queue.queue.maxlen):  # partial, odd, even, then full
            sensor._queue.queue.append(rng.uniform(0.0, 1.0))
            assert sensor.reading() == (sensor.distance, 12.5)
        assert hardware.snapshot().values[1] == sensor.distance
    factory.reset()


def _count_writes(pin: Any) -> list[float]:
    """Every value written to a mock pin, repeats included (its ``states`` keeps changes only)."""
    writes: list[float] = []
    set_state = pin._set_state

    def counting(value: float) -> None:
        writes.append(float(value))
        set_state(value)

    pin._set_state = counting
    return writes


def test_only_the_motor_whose_duty_changes_is_written_and_a_stop_writes_both() -> None:
    factory, config, _ = simulated_gpio(CHANNELS)
    with GpioHardware(config, CHANNELS, clock=time.monotonic, pin_factory=factory) as hardware:
        left, right = _count_writes(factory.pin(12)), _count_writes(factory.pin(13))
        hardware.drive(MotorCommand(0.8, 0.8))
        assert (left, right) == ([0.8], [0.8])
        hardware.drive(MotorCommand(0.8, 0.8))  # an equal command (a new object): no write
        hardware.drive(MotorCommand(0.55, 0.8))  # one side changes: one write
        assert (left, right) == ([0.8, 0.55], [0.8])
        hardware.stop()
        assert (left[-1], right[-1]) == (0.0, 0.0)
        hardware.drive(MotorCommand(0.55, 0.8))  # after a stop both sides are written again
        assert (left[-1], right[-1]) == (0.55, 0.8)
    factory.reset()


def test_a_failed_write_makes_the_next_drive_write_both_motors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    factory, config, _ = simulated_gpio(CHANNELS)
    with GpioHardware(config, CHANNELS, clock=time.monotonic, pin_factory=factory) as hardware:
        hardware.drive(MotorCommand(0.8, 0.8))
        motor_class = type(hardware.robot.right_motor)
        real_value = motor_class.value

        def right_fails(motor: Any, duty: float) -> None:
            if motor is hardware.robot.right_motor:
                raise OSError("pin write failed")
            real_value.fset(motor, duty)

        monkeypatch.setattr(motor_class, "value", property(real_value.fget, right_fails))
        with pytest.raises(OSError):
            hardware.drive(MotorCommand(0.6, 0.55))  # the left side is written, then it fails
        monkeypatch.setattr(motor_class, "value", real_value)
        # What was applied is unknown now: the previous duties must not be trusted.
        hardware.drive(MotorCommand(0.8, 0.8))
        assert (float(factory.pin(12).state), float(factory.pin(13).state)) == (0.8, 0.8)
    factory.reset()
