"""A Raspberry Pi's GPIO hardware, faked for a test's subprocess (this folder on PYTHONPATH).

Nothing off a Pi has a GPIO chip (no /dev/gpiochip*, no gpio-sim module here, no /dev/gpiomem),
so the chip is the one thing faked; the real lgpio module from the installed wheel, gpiozero's
real factories and sim2pi's real code run above it. Python imports this module at start-up.

- The board: gpiozero's ``get_pi_revision`` (which reads /proc/device-tree or /proc/cpuinfo)
  returns ``SIM2PI_FAKE_PI_REVISION`` (hex, e.g. c03112 for a Pi 4B, d04170 for a Pi 5).
- The GPIO chip (``SIM2PI_FAKE_GPIOCHIP=1``): lgpio's C extension ``_lgpio`` is wrapped so that
  its chip calls (open, claim, free, mode, read, write, PWM, debounce, alerts) act on an
  in-memory chip. An HC-SR04 sits on each ``trigger:echo`` pair of ``SIM2PI_FAKE_HCSR04``
  (e.g. ``5:6,17:27``), an obstacle ``SIM2PI_FAKE_RANGE_M`` away: a falling trigger makes the
  echo rise and fall, and the edges reach lgpio's own notification pipe, timestamped in
  nanoseconds as the kernel does, for lgpio's own callback thread to deliver. Without
  ``SIM2PI_FAKE_GPIOCHIP=1`` opening a chip fails as it does with no /dev/gpiochip*.
- The register block of gpiozero's native factory (``SIM2PI_FAKE_GPIOMEM=1``): /dev/gpiomem as
  4 KiB of memory (a Pi 4 has it, a Pi 5 does not); otherwise opening it fails as off a Pi.
- RPi.GPIO and pigpio are not importable, so gpiozero's fallback order is the same on every
  machine these tests run on.
"""

from __future__ import annotations

import importlib.abc
import mmap
import os
import struct
import sys
import time
from typing import Any

import gpiozero.pins.local
import gpiozero.pins.native

#: gpiozero's speed of sound (m/s), so that the echo reads exactly SIM2PI_FAKE_RANGE_M.
SPEED_OF_SOUND_M_S = 343.26
#: Time from the trigger's falling edge to the echo's rising edge (an HC-SR04's burst, s).
ECHO_DELAY_S = 0.0005
# lgpio's line flags and mode bits (lgpio.py: SET_*, and gpiozero's LGPIOPin.GPIO_IS_*).
LINE_FLAGS = 4 | 8 | 16 | 32 | 64 | 128
IS_OUT, IS_LG_INPUT, IS_LG_OUTPUT, IS_LG_ALERT = 1 << 1, 1 << 8, 1 << 9, 1 << 10
PULL_UP = 32
RISING, FALLING = 1, 2
CANNOT_OPEN_CHIP = -78  # lgpio's LG_CANNOT_OPEN_CHIP: "can not open gpiochip"
NOT_ALLOCATED = -53  # lgpio's LG_GPIO_NOT_ALLOCATED, for a pin used before it is claimed


class HiddenModules(importlib.abc.MetaPathFinder):
    """Makes RPi.GPIO and pigpio unimportable, as where they are not installed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        """Refuse the hidden top-level packages; leave every other import alone."""
        if name.partition(".")[0] in ("RPi", "pigpio"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


class FakeChip:
    """lgpio's ``_lgpio`` with its chip calls on an in-memory gpiochip; the rest is the real one."""

    def __init__(self, real: Any, notify_fifo: str, hcsr04: dict[int, int], range_m: float):
        self._real = real
        # Opened now, by name: a child process that imports lgpio in the same directory makes a
        # new pipe of that name, but this process's reader keeps the one it opened.
        self._notify = os.open(notify_fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.set_blocking(self._notify, True)
        self._hcsr04 = hcsr04  # trigger line -> echo line
        self._echo_s = 2 * range_m / SPEED_OF_SOUND_M_S
        self.chip = 0
        self.mode: dict[int, int] = {}  # line -> mode bits
        self.level: dict[int, int] = {}
        self.alert: dict[int, int] = {}  # line -> RISING | FALLING
        self.pwm: dict[int, tuple[int, int]] = {}  # line -> (Hz, duty %)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def _gpiochip_open(self, chip: int) -> int:
        if os.environ.get("SIM2PI_FAKE_GPIOCHIP") != "1":
            return CANNOT_OPEN_CHIP
        self.chip = chip
        return 0

    def _gpiochip_close(self, handle: int) -> int:
        return 0

    def _gpio_get_mode(self, handle: int, line: int) -> int:
        return self.mode.get(line, 0)

    def _gpio_claim_input(self, handle: int, flags: int, line: int) -> int:
        self.mode[line] = (flags & LINE_FLAGS) | IS_LG_INPUT
        self.alert.pop(line, None)
        self.level[line] = 1 if flags & PULL_UP else 0
        return 0

    def _gpio_claim_output(self, handle: int, flags: int, line: int, level: int) -> int:
        self.mode[line] = (flags & LINE_FLAGS) | IS_OUT | IS_LG_OUTPUT
        self.alert.pop(line, None)
        self.level[line] = level
        return 0

    def _gpio_claim_alert(self, handle: int, flags: int, edges: int, line: int, notify: int) -> int:
        self.mode[line] = (flags & LINE_FLAGS) | IS_LG_INPUT | IS_LG_ALERT
        self.alert[line] = edges
        return 0

    def _gpio_free(self, handle: int, line: int) -> int:
        self.mode.pop(line, None)
        self.alert.pop(line, None)
        return 0

    def _gpio_read(self, handle: int, line: int) -> int:
        return self.level.get(line, 0) if line in self.mode else NOT_ALLOCATED

    def _gpio_write(self, handle: int, line: int, level: int) -> int:
        if not self.mode.get(line, 0) & IS_OUT:
            return NOT_ALLOCATED
        was, self.level[line] = self.level.get(line, 0), level
        echo = self._hcsr04.get(line)
        if echo is not None and was and not level:  # the trigger pulse ended: ping
            rise_ns = time.monotonic_ns() + int(ECHO_DELAY_S * 1e9)
            self._edge(echo, 1, rise_ns)
            self._edge(echo, 0, rise_ns + int(self._echo_s * 1e9))
        return 0

    def _tx_pwm(self, handle: int, line: int, hz: int, duty: float, *pulses: int) -> int:
        if not self.mode.get(line, 0) & IS_OUT:
            return NOT_ALLOCATED
        self.pwm[line] = (hz, duty)
        return 0

    def _gpio_set_debounce_micros(self, handle: int, line: int, micros: int) -> int:
        return 0

    def _edge(self, line: int, level: int, tick_ns: int) -> None:
        """One edge as lgpio's C library reports it: a record on the notification pipe."""
        self.level[line] = level
        if not self.alert.get(line, 0) & (RISING if level else FALLING):
            return
        os.write(self._notify, struct.pack("QBBBBI", tick_ns, self.chip, line, level, 0, 0))


class FakeGPIOMemory(gpiozero.pins.native.GPIOMemory):
    """gpiozero's /dev/gpiomem register block as 4 KiB of memory, where the board has one."""

    def __init__(self, soc: str) -> None:
        if os.environ.get("SIM2PI_FAKE_GPIOMEM") != "1":
            raise OSError(
                "unable to open /dev/gpiomem or /dev/mem; upgrade your kernel or run as root"
            )
        self.fd = os.open(os.devnull, os.O_RDWR)
        self.mem = mmap.mmap(-1, 4096)
        self.reg_fmt = "@I"


def _fake_lgpio() -> None:
    try:
        import lgpio
    except ImportError:  # not installed (Python 3.13 without Pi OS's python3-lgpio)
        return
    if not hasattr(lgpio, "_lgpio"):  # PyPI's empty placeholder
        return
    pairs = [p.split(":") for p in os.environ.get("SIM2PI_FAKE_HCSR04", "").split(",") if p]
    lgpio._lgpio = FakeChip(
        lgpio._lgpio,
        # lgpio's C library made this pipe (in the working directory) as lgpio was imported.
        os.path.abspath(f".lgd-nfy{lgpio._notify_thread._notify}"),
        {int(trigger): int(echo) for trigger, echo in pairs},
        float(os.environ.get("SIM2PI_FAKE_RANGE_M", "0.5")),
    )


revision = int(os.environ["SIM2PI_FAKE_PI_REVISION"], 16)
gpiozero.pins.local.get_pi_revision = lambda: revision
gpiozero.pins.native.GPIOMemory = FakeGPIOMemory
sys.meta_path.insert(0, HiddenModules())
_fake_lgpio()
