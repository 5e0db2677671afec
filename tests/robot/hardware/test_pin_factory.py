"""What a pin factory can do, and the refusal of one that cannot do what ``[hardware.gpio]`` needs.

In-process, on gpiozero's own classes: a factory is judged by the gpiozero factory it derives
from, so NativeFactory is judged without loading it (it needs a Pi's /dev/gpiomem; the
subprocess tests in test_pin_factory_boards.py load it on a faked one).
"""

from __future__ import annotations

import importlib.util
import time

import pytest
from gpiozero.pins import Factory
from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin
from gpiozero.pins.native import NativeFactory

from robot.config import DistanceSensorConfig, DriveConfig, GpioConfig, MotorPins
from robot.hardware.gpio import GpioHardware
from robot.hardware.pin_factory import (
    PinFactoryChoice,
    PinFactoryError,
    describe_factory,
    factory_abilities,
    install_lgpio,
    require_abilities,
)
from robot.hardware.sim.pins import SimPinFactory

CHANNELS = ("front_distance_m",)
HCSR04 = (DistanceSensorConfig("front_distance_m", 17, 27),)


def gpio_config(*, pwm: bool, sensors: tuple[DistanceSensorConfig, ...] = HCSR04) -> GpioConfig:
    """An L298N drive on 12/16 and 13/19, with or without PWM, and ``sensors``."""
    drive = DriveConfig("motor", MotorPins(forward=12, backward=16), MotorPins(13, 19), pwm=pwm)
    return GpioConfig(sensors, (), None, drive)


def native(skipped: tuple[tuple[str, str], ...] = ()) -> PinFactoryChoice:
    """NativeFactory as ``describe_factory`` would describe it on a Pi 4."""
    _, pwm, edge_timing = factory_abilities(NativeFactory)
    return PinFactoryChoice(
        None, "NativeFactory", "gpiozero", "Raspberry Pi 4B rev 1.2, BCM2711", pwm, edge_timing,
        skipped,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("factory_class", "pin_class", "abilities"),
    [
        (NativeFactory, None, ("gpiozero", False, False)),
        (MockFactory, MockPin, ("gpiozero", False, True)),
        (MockFactory, MockPWMPin, ("gpiozero", True, True)),
        (SimPinFactory, MockPWMPin, ("gpiozero", True, True)),  # ours, derived from MockFactory
        (Factory, None, (None, None, None)),  # no factory gpiozero ships: unknown
    ],
)
def test_a_factory_is_judged_by_the_gpiozero_factory_it_derives_from(
    factory_class: type, pin_class: type | None, abilities: tuple
) -> None:
    assert factory_abilities(factory_class, pin_class) == abilities


@pytest.mark.skipif(not importlib.util.find_spec("lgpio"), reason="lgpio is not installed here")
def test_lgpio_has_pwm_and_edge_timing() -> None:
    from gpiozero.pins.lgpio import LGPIOFactory

    assert factory_abilities(LGPIOFactory) == ("lgpio", True, True)


def test_native_is_refused_for_the_pwm_drive_and_the_hc_sr04s_with_the_lgpio_fix() -> None:
    with pytest.raises(PinFactoryError) as refused:
        require_abilities(native((("lgpio", "No module named 'lgpio'"),)), gpio_config(pwm=True))
    message = str(refused.value)
    assert "\n" not in message
    assert "NativeFactory has no PWM (pwm = true in [hardware.gpio.drive]" in message
    assert "and no edge timing (the HC-SR04s' echoes: the robot would drive blind)" in message
    assert refused.value.described[0].startswith("pin factory NativeFactory (gpiozero; ")


def test_native_without_pwm_is_refused_for_the_hc_sr04s_only() -> None:
    with pytest.raises(PinFactoryError, match="has no edge timing") as refused:
        require_abilities(native(), gpio_config(pwm=False))
    assert "no PWM" not in str(refused.value)


def test_native_runs_a_full_speed_drive_without_distance_sensors() -> None:
    require_abilities(native(), gpio_config(pwm=False, sensors=()))


def test_a_pwm_drive_on_mock_pins_without_pwm_touches_no_pin() -> None:
    factory = MockFactory(pin_class=MockPin)
    try:
        with pytest.raises(PinFactoryError, match="GPIOZERO_MOCK_PIN_CLASS=mockpwmpin"):
            GpioHardware(gpio_config(pwm=True), CHANNELS, clock=time.monotonic, pin_factory=factory)
        assert factory.pins == {}  # refused before a single pin was made, let alone written
    finally:
        factory.reset()


def test_the_description_names_the_factory_its_library_and_board() -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    try:
        choice = describe_factory(factory, (("lgpio", "can not open gpiochip"),))
        first, skipped = choice.describe()
        assert first.startswith("pin factory MockFactory (gpiozero ")
        assert first.endswith(
            ", MockPWMPin; Raspberry Pi 3B rev 1.2, BCM2837): PWM yes, edge timing yes"
        )
        assert skipped == "  skipped lgpio: can not open gpiochip"
    finally:
        factory.reset()


@pytest.mark.parametrize(
    ("python", "fix"),
    [
        ((3, 11), "pip install lgpio (requirements-pi.txt has it)"),
        ((3, 12), "pip install lgpio (requirements-pi.txt has it)"),
        (
            (3, 13),
            "sudo apt install python3-lgpio, and a venv made with --system-site-packages "
            "(scripts/install-service --system-site-packages)",
        ),
    ],
)
def test_how_to_install_lgpio_depends_on_the_python(python: tuple[int, int], fix: str) -> None:
    assert install_lgpio(python) == fix
