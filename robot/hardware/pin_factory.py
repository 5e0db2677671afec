"""Which gpiozero pin factory drives the pins, what it can do, and the fix when it cannot.

gpiozero picks a factory by itself: the one ``GPIOZERO_PIN_FACTORY`` names, or else the first of
lgpio, rpigpio, pigpio and native that loads, warning (``PinFactoryFallback``) for each it skips.
The robot needs more than a factory that loads: PWM on the drive pins when
``[hardware.gpio.drive] pwm = true``, and edges timed as they happen for the HC-SR04s (an echo is
the time between its rising and falling edge, 58 µs per cm). So the choice is made here, the way
gpiozero makes it but keeping why each preferred factory was skipped, and ``require_abilities``
refuses a factory that cannot do what the config needs before any pin is opened: a robot that
drives with blind distance sensors is what this runtime exists to prevent. Every failure is one
line with the fix, in ``check``, ``run`` and ``stop`` alike.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from dataclasses import dataclass
from importlib import import_module, metadata
from typing import Any

from gpiozero import Device
from gpiozero.exc import (
    BadPinFactory,
    GPIOZeroError,
    NativePinFactoryFallback,
    PinFactoryFallback,
)
from gpiozero.pins.mock import MockFactory, MockPWMPin

from robot.config import GpioConfig
from robot.errors import HardwareError

#: The environment variable that names gpiozero's factory ("lgpio", "native", "mock", …).
FACTORY_ENV = "GPIOZERO_PIN_FACTORY"

#: What opening a gpiozero device can raise: gpiozero's own errors, and what a pin factory's
#: library raises on a board it does not know (RPi.GPIO on a Pi 5: ``RuntimeError: Cannot
#: determine SOC peripheral base address``; a missing ``/dev/gpiochip*``: ``OSError``).
PIN_FACTORY_ERRORS = (GPIOZeroError, ValueError, OSError, RuntimeError, ImportError)

#: gpiozero's own factories by class name: (the library under it, PWM, edge timing). lgpio and
#: RPi.GPIO make PWM in software (plenty for a motor at gpiozero's 100 Hz); lgpio's edges are
#: stamped by the kernel, RPi.GPIO's by its interrupt thread, pigpio's by its daemon (1 µs).
#: NativeFactory has no PWM, and a Python thread polls sysfs for its edges and stamps each when it
#: looks, which loses an echo's 58 µs per cm. Mock pins stamp edges in their own time; their PWM
#: depends on the pin class (``_mock_pwm``).
_ABILITIES: dict[str, tuple[str, bool | None, bool]] = {
    "LGPIOFactory": ("lgpio", True, True),
    "RPiGPIOFactory": ("RPi.GPIO", True, True),
    "PiGPIOFactory": ("pigpio", True, True),
    "NativeFactory": ("gpiozero", False, False),
    "MockFactory": ("gpiozero", None, True),
}


class PinFactoryError(HardwareError):
    """No pin factory loads, or the one that does cannot do what ``[hardware.gpio]`` needs."""

    def __init__(self, problem: str, described: tuple[str, ...] = ()) -> None:
        super().__init__(problem)
        #: The factory's description (``PinFactoryChoice.describe``), where one loaded.
        self.described = described


@dataclass(frozen=True)
class PinFactoryChoice:
    """A loaded pin factory, what it can do, and why gpiozero skipped the ones it prefers."""

    #: The gpiozero ``Factory`` itself.
    factory: Any
    #: Its class name: ``LGPIOFactory``, ``NativeFactory``, ``MockFactory``, …
    name: str
    #: The library under it and its version, with the chip or pin class where it has one.
    library: str
    #: gpiozero's board info ("Raspberry Pi 4B rev 1.2, BCM2711"), or None where it has none.
    board: str | None
    #: Whether it can do PWM (None: not one of gpiozero's own factories, so unknown).
    pwm: bool | None
    #: Whether it times edges as they happen, as an HC-SR04 needs (None: unknown).
    edge_timing: bool | None
    #: (factory, why) for each factory gpiozero tried and skipped before this one.
    skipped: tuple[tuple[str, str], ...] = ()

    def describe(self) -> list[str]:
        """``pin factory NAME (library; board): PWM yes, edge timing yes``, then one line per
        skipped factory."""
        board = f"; {self.board}" if self.board else ""
        lines = [
            f"pin factory {self.name} ({self.library}{board}): PWM {_yes(self.pwm)}, "
            f"edge timing {_yes(self.edge_timing)}"
        ]
        lines += [f"  skipped {name}: {why}" for name, why in self.skipped]
        return lines


def choose_pin_factory(injected: Any = None) -> PinFactoryChoice:
    """The factory to drive the pins with: ``injected``, else gpiozero's current one, else the
    one gpiozero loads now (kept as ``Device.pin_factory``, as gpiozero keeps it).

    Raises PinFactoryError, one line with the fix, when gpiozero can load none.
    """
    if injected is not None:
        return describe_factory(injected)
    if Device.pin_factory is not None:
        return describe_factory(Device.pin_factory)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:  # gpiozero's own chooser (Device's static method in gpiozero 2.x)
            factory = Device._default_pin_factory()
        except Exception as exc:  # a named factory's own error (lgpio.error is an Exception)
            raise PinFactoryError(_load_failure(exc, _skipped(caught))) from exc
    for warning in caught:  # the fallbacks are reported here, and better; pass on the rest
        if not issubclass(warning.category, PinFactoryFallback | NativePinFactoryFallback):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    Device.pin_factory = factory
    return describe_factory(factory, _skipped(caught))


def describe_factory(factory: Any, skipped: tuple[tuple[str, str], ...] = ()) -> PinFactoryChoice:
    """What ``factory`` is and can do; ``skipped`` as gpiozero's fallback warnings said."""
    cls = type(factory)
    pin_class = getattr(factory, "pin_class", None)
    library, pwm, edge_timing = factory_abilities(cls, pin_class)
    if library == "lgpio":
        library = f"lgpio {_version('lgpio')}, chip {getattr(factory, 'chip', '?')}"
    elif library == "gpiozero" and pin_class is not None:
        library = f"gpiozero {_version('gpiozero')}, {pin_class.__name__}"
    elif library is not None:
        library = f"{library} {_version(library)}"
    else:
        library = cls.__module__
    return PinFactoryChoice(
        factory, cls.__name__, library, _board(factory), pwm, edge_timing, skipped
    )


def factory_abilities(
    factory_class: type, pin_class: type | None = None
) -> tuple[str | None, bool | None, bool | None]:
    """(library, PWM, edge timing) of a factory class, by the gpiozero factory it derives from;
    (None, None, None) for one gpiozero does not ship."""
    for cls in factory_class.__mro__:
        known = _ABILITIES.get(cls.__name__)
        if known is not None and cls.__module__.startswith("gpiozero."):
            library, pwm, edge_timing = known
            return library, _mock_pwm(pin_class) if pwm is None else pwm, edge_timing
    return None, None, None


def require_abilities(choice: PinFactoryChoice, gpio: GpioConfig) -> None:
    """Raise PinFactoryError (one line with the fix) if ``choice`` cannot do what ``gpio`` needs:
    PWM for a drive with ``pwm = true``, edge timing for HC-SR04s."""
    lacks = []
    if gpio.drive.pwm and choice.pwm is False:
        lacks.append("no PWM (pwm = true in [hardware.gpio.drive]; gpiozero: PinPWMUnsupported)")
    if gpio.distance_sensors and choice.edge_timing is False:
        lacks.append("no edge timing (the HC-SR04s' echoes: the robot would drive blind)")
    if not lacks:
        return
    if isinstance(choice.factory, MockFactory):  # only PWM can be missing, with plain MockPins
        fix = "for mock pins set GPIOZERO_MOCK_PIN_CLASS=mockpwmpin"
    else:
        fix = lgpio_fix(dict(choice.skipped).get("lgpio"))
    if len(lacks) == 1 and gpio.drive.pwm and choice.pwm is False:
        fix += ", or set pwm = false in [hardware.gpio.drive] (full speed only)"
    raise PinFactoryError(
        f"[hardware.gpio] the pin factory {choice.name} has {' and '.join(lacks)}: {fix}",
        tuple(choice.describe()),
    )


def lgpio_fix(why_skipped: str | None = None) -> str:
    """How to make lgpio, gpiozero's first choice, the factory here; ``why_skipped``: why
    gpiozero skipped it, if it did."""
    not_a_pi = _unknown_board()
    if not_a_pi is not None:
        return (
            f"this is not a Raspberry Pi gpiozero knows ({not_a_pi}): off a Pi use mock pins "
            f"({FACTORY_ENV}=mock GPIOZERO_MOCK_PIN_CLASS=mockpwmpin) or [hardware] backend = "
            '"sim"'
        )
    if not lgpio_installed():
        return f"install lgpio, gpiozero's first choice: {install_lgpio()}"
    if why_skipped is not None:
        return (
            f"lgpio is installed but did not load ({why_skipped}): check that /dev/gpiochip0 "
            "exists and that this user is in the gpio group"
        )
    return f"use lgpio, gpiozero's first choice: unset {FACTORY_ENV} or set it to lgpio"


def install_lgpio(python: tuple[int, int] | None = None) -> str:
    """The command that installs lgpio for Python ``python`` (default: this one)."""
    if (python or sys.version_info[:2]) < (3, 13):
        return "pip install lgpio (requirements-pi.txt has it)"
    # PyPI has only an empty placeholder for 3.13 (Pi OS Trixie): Pi OS's own package, seen
    # through the venv.
    return (
        "sudo apt install python3-lgpio, and a venv made with --system-site-packages "
        "(scripts/install-service --system-site-packages)"
    )


def lgpio_installed() -> bool:
    """Whether a working lgpio module imports here (not PyPI's empty 3.13 placeholder)."""
    try:
        return hasattr(import_module("lgpio"), "gpiochip_open")
    except ImportError:
        return False


def pin_factory_hint(exc: BaseException) -> str:
    """The fix to print after a pin factory's failure ``exc``."""
    if isinstance(exc, RuntimeError | ImportError) and not isinstance(exc, GPIOZeroError):
        install = "" if lgpio_installed() else f", after {install_lgpio()}"
        return (
            "the pin factory's library cannot run on this board (RPi.GPIO does not support the "
            f"Pi 5): use lgpio: {FACTORY_ENV}=lgpio, or unset it{install}"
        )
    return f"check the pins and that {FACTORY_ENV} names a factory that works here"


def _load_failure(exc: Exception, skipped: tuple[tuple[str, str], ...]) -> str:
    """The one line for a factory that did not load."""
    named = os.environ.get(FACTORY_ENV)
    if named is None:
        tried = ", ".join(f"{name} ({why})" for name, why in skipped)
        return (
            f"[hardware.gpio] no gpiozero pin factory loads here: tried {tried}; "
            f"{lgpio_fix(dict(skipped).get('lgpio'))}"
        )
    if isinstance(exc, BadPinFactory):
        hint = f"{FACTORY_ENV} must name lgpio, rpigpio, pigpio, native or mock (or be unset)"
    elif named.lower() == "lgpio":
        hint = lgpio_fix(str(exc) or type(exc).__name__)
    else:
        hint = pin_factory_hint(exc)
    return (
        f"[hardware.gpio] the pin factory {named!r} ({FACTORY_ENV}) does not load: "
        f"{type(exc).__name__}: {str(exc) or 'no details'}; {hint}"
    )


def _skipped(caught: list[warnings.WarningMessage]) -> tuple[tuple[str, str], ...]:
    """(factory, why) from gpiozero's "Falling back from NAME: WHY" warnings."""
    skipped = []
    for warning in caught:
        if issubclass(warning.category, PinFactoryFallback):
            found = re.fullmatch(r"Falling back from (\w+): (.*)", str(warning.message), re.S)
            if found:
                why = " ".join(found[2].split())
                if len(why) > 1 and why[0] == why[-1] == "'":  # lgpio's errors print quoted
                    why = why[1:-1]
                skipped.append((found[1], why))
    return tuple(skipped)


def _unknown_board() -> str | None:
    """Why gpiozero cannot tell which Pi this is, or None when it can."""
    from gpiozero.pins.local import get_pi_revision
    from gpiozero.pins.pi import PiBoardInfo

    try:
        PiBoardInfo.from_revision(get_pi_revision())
    except (GPIOZeroError, OSError) as exc:
        return str(exc)
    return None


def _mock_pwm(pin_class: type | None) -> bool:
    return isinstance(pin_class, type) and issubclass(pin_class, MockPWMPin)


def _board(factory: Any) -> str | None:
    try:
        info = factory.board_info
    except (GPIOZeroError, AttributeError, OSError):  # not a Pi gpiozero knows
        return None
    description, soc = getattr(info, "description", None), getattr(info, "soc", None)
    return f"{description}, {soc}" if description and soc else description


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        module = sys.modules.get(distribution)
        return str(getattr(module, "VERSION", getattr(module, "__version__", "version unknown")))


def _yes(ability: bool | None) -> str:
    return "unknown" if ability is None else "yes" if ability else "no"
