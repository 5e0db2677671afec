"""What the ``sim`` backend's motor pins last held, in a file another process can read.

The sim backend's pins live inside ``robot run``: when the process dies, so do they, and a test
outside it could not tell whether a crash left the motors running or whether ``robot stop``
(the unit's ``ExecStopPost=``) drove them to 0. ``SIM2PI_SIM_PINS_FILE=/path`` (off unless set;
the system tests set it in a drop-in) makes the sim backend record its drive pins' states there
whenever they change (at most every ``MIN_INTERVAL_S`` while driving, always when all are 0),
and ``robot stop`` on the ``sim`` backend drives them to 0 by writing the same file, as it
would drive real pins low. One JSON object, replaced atomically::

    {"writer": "robot run", "pid": 1234, "pins": {"GPIO12": 0.8, "GPIO16": 0.0, ...}}
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

_log = logging.getLogger(__name__)
PINS_FILE_VARIABLE = "SIM2PI_SIM_PINS_FILE"
#: A changing drive is recorded at most this often (seconds of wall-clock time).
MIN_INTERVAL_S = 0.1


def pins_file(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The file named by ``SIM2PI_SIM_PINS_FILE``, or None when unset."""
    path = environ.get(PINS_FILE_VARIABLE)
    return Path(path) if path else None


def write_pins(path: Path, writer: str, pins: Mapping[str, float]) -> None:
    """Replace ``path`` with ``pins`` as ``writer`` (this process) holds them."""
    record = {"writer": writer, "pid": os.getpid(), "pins": {k: float(v) for k, v in pins.items()}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, sort_keys=True) + "\n")
    os.replace(tmp, path)


class PinRecorder:
    """Records a set of pins' states to a file when they change (``robot run`` on ``sim``)."""

    def __init__(self, path: Path, pins: Mapping[str, object]) -> None:
        """Record ``pins`` (name -> gpiozero pin) to ``path``."""
        self.path = path
        self.pins = dict(pins)
        self._last: dict[str, float] | None = None
        self._last_at = 0.0
        self._failed = False

    def record(self) -> None:
        """Write the pins' states if they changed (rate-limited unless they are all 0)."""
        if self._failed:
            return
        states = {name: float(pin.state) for name, pin in self.pins.items()}  # type: ignore[attr-defined]
        if states == self._last:
            return
        now = time.monotonic()
        if any(states.values()) and now - self._last_at < MIN_INTERVAL_S:
            return
        try:
            write_pins(self.path, "robot run", states)
        except OSError as exc:
            _log.warning("sim: cannot record the pins to %s (recording off): %s", self.path, exc)
            self._failed = True
            return
        self._last, self._last_at = states, now


__all__ = ["PINS_FILE_VARIABLE", "PinRecorder", "pins_file", "write_pins"]
