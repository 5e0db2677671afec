"""How one config key is read from TOML and checked: a rule per field, kept in its metadata.

A rule checks a value the same way whether it came from ``robot.toml`` or from Python code
(``dataclasses.replace(config, alpha=2)``): ``Section.__post_init__`` runs it on construction.
A broken rule is a ``Problem``: the key, what was expected and found, and the fix.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robot.config.toml_table import MISSING, Table, describe, shown

#: The key of a field's rule in its ``dataclasses.field`` metadata.
RULE = "robot.config.rule"


@dataclass(frozen=True)
class Problem:
    """A broken rule: ``key`` (relative to its table), what is wrong, the fix.

    ``ref`` is another key (relative to the same table) that the problem ends by naming.
    """

    key: str
    problem: str
    fix: str
    ref: str | None = None


class Rule:
    """Reads one key of a TOML table and checks a value of its field."""

    #: The TOML type ``Table.get`` asks for.
    toml_type: Any = object
    #: The fix that ends an error message (also for a TOML value of the wrong type).
    fix: str = ""
    #: The value of a key that is absent and whose field has no default (MISSING: required).
    absent: Any = MISSING

    def read(self, table: Table, key: str, default: Any, base: Path) -> Any:
        """The raw value of ``key`` (its type checked); ``base`` is the config's directory."""
        return table.get(key, self.toml_type, default, fix=self.fix)

    def check(self, key: str, value: Any, owner: Any) -> Problem | None:
        """What is wrong with ``value`` as ``owner``'s field ``key``, or None."""
        return None

    def normalise(self, value: Any) -> Any:
        """The value as the field keeps it (called once ``check`` has passed)."""
        return value


def is_number(value: object) -> bool:
    """A real number (a bool is not one)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


class Number(Rule):
    """A finite number in [low, high] (or (low, high] with ``above``), kept as a float.

    ``unlimited``: Python code may also give ``math.inf`` (the limit is off; benchmarks of the
    runtime alone). TOML cannot: every TOML number must be finite.
    """

    toml_type = float

    def __init__(
        self,
        low: float,
        high: float,
        unit: str = "",
        *,
        above: bool = False,
        unlimited: bool = False,
    ) -> None:
        self.low, self.high, self.above, self.unlimited = low, high, above, unlimited
        suffix = f" {unit}" if unit else ""
        if above:
            self.expected = f"more than {low} and at most {high}{suffix}"
            self.fix = f"choose a value above {low} and up to {high}{suffix}"
        else:
            self.expected = f"{low}..{high}{suffix}"
            self.fix = f"choose a value between {low} and {high}{suffix}"

    def check(self, key: str, value: Any, owner: Any) -> Problem | None:
        """A problem unless ``value`` is a finite number in range."""
        if self.unlimited and value == math.inf:
            return None
        if not is_number(value) or not math.isfinite(value):
            return Problem(key, f"expected a finite number, found {describe(value)}", self.fix)
        low_ok = value > self.low if self.above else value >= self.low
        if not (low_ok and value <= self.high):
            return Problem(key, f"expected {self.expected}, found {shown(value)}", self.fix)
        return None

    def normalise(self, value: Any) -> float:
        """A float."""
        return float(value)


class Integer(Rule):
    """An integer in [low, high]."""

    toml_type = int

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high
        self.fix = f"choose an integer between {low} and {high}"

    def check(self, key: str, value: Any, owner: Any) -> Problem | None:
        """A problem unless ``value`` is an integer in range."""
        if isinstance(value, bool) or not isinstance(value, int):
            return Problem(key, f"expected an integer, found {describe(value)}", self.fix)
        if not self.low <= value <= self.high:
            return Problem(key, f"expected {self.low}..{self.high}, found {shown(value)}", self.fix)
        return None


class Seed(Rule):
    """A random seed >= 0, or None (in TOML: absent, or negative)."""

    toml_type = int
    fix = "give an integer >= 0, or leave the key out for no seed"
    absent = None

    def read(self, table: Table, key: str, default: Any, base: Path) -> int | None:
        """The seed; a negative one means none."""
        seed = table.get(key, int, -1, fix=self.fix)
        return None if seed < 0 else seed

    def check(self, key: str, value: Any, owner: Any) -> Problem | None:
        """A problem unless ``value`` is None or an integer >= 0."""
        if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            return None
        return Problem(key, f"expected an integer >= 0 or None, found {describe(value)}", self.fix)


class Flag(Rule):
    """true or false."""

    toml_type = bool

    def check(self, key: str, value: Any, owner: Any) -> Problem | None:
        """A problem unless ``value`` is a bool."""
        if isinstance(value, bool):
            return None
        return Problem(key, f"expected true or false, found {describe(value)}", "use true or false")


class Text(Rule):
    """A string (or None where ``optional``)."""

    toml_type = str

    def __init__(self, fix: str = "", *, optional: bool = False) -> None:
        self.fix = fix
        self.optional = optional

    def check(self, key: str, value: Any, owner: Any) -> Problem | None:
        """A problem unless ``value`` is a string (or an allowed None)."""
        if isinstance(value, str) or (value is None and self.optional):
            return None
        return Problem(key, f"expected a string, found {describe(value)}", self.fix or "quote it")


class Choice(Rule):
    """One string among ``choices``."""

    toml_type = str

    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices
        self.fix = f"use one of {', '.join(repr(c) for c in choices)}"

    def check(self, key: str, value: Any, owner: Any) -> Problem | None:
        """A problem unless ``value`` is one of the choices."""
        if value in self.choices:
            return None
        return Problem(key, f"expected one of {list(self.choices)}, found {shown(value)}", self.fix)


class FilePath(Rule):
    """A path; relative ones in TOML are relative to the config file's directory."""

    toml_type = str

    def read(self, table: Table, key: str, default: Any, base: Path) -> Path:
        """The path, resolved against ``base`` (so is the default)."""
        text = table.get(key, str, default if default is MISSING else str(default))
        path = Path(text).expanduser()
        return path if path.is_absolute() else base / path

    def check(self, key: str, value: Any, owner: Any) -> Problem | None:
        """A problem unless ``value`` is a path or a string."""
        if isinstance(value, str | Path):
            return None
        return Problem(key, f"expected a path, found {describe(value)}", "give a path")

    def normalise(self, value: Any) -> Path:
        """A ``Path``."""
        return Path(value)


#: A GPIO as gpiozero names it: a BCM number, or a string such as ``"GPIO17"`` / ``"BOARD11"``.
Pin = int | str


def pin_label(pin: Pin) -> str:
    """One name per physical pin (``17``, ``"17"``, ``"BCM17"`` and ``"GPIO17"`` are one)."""
    label = f"GPIO{pin}" if isinstance(pin, int) else pin.strip().upper()
    label = re.sub(r"^BCM", "GPIO", label)
    return f"GPIO{label}" if label.isdigit() else label


class PinRule(Rule):
    """A GPIO (or None where ``optional``)."""

    toml_type = Pin
    fix = "give the BCM number, e.g. 17"

    def __init__(self, *, optional: bool = False) -> None:
        self.optional = optional

    def check(self, key: str, value: Any, owner: Any) -> Problem | None:
        """A problem unless ``value`` names a pin."""
        if value is None and self.optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            problem = f"expected an integer or a string, found {describe(value)}"
        elif isinstance(value, int):
            problem = None if 0 <= value <= 53 else "expected a BCM GPIO number 0..53"
        elif re.fullmatch(r"(GPIO|BCM|BOARD|WPI|J8:)?\d+", value.strip().upper()):
            problem = None
        else:
            problem = "expected a pin such as 17, 'GPIO17' or 'BOARD11'"
        if problem is None:
            return None
        found = "" if "found" in problem else f", found {shown(value)}"
        return Problem(key, problem + found, self.fix)


class IndexMap(Rule):
    """Channel name → 0-based position, each position once; below ``owner.<size>`` if given."""

    toml_type = dict

    def __init__(self, *, size: str | None = None, limit: int = 1023) -> None:
        self.size, self.limit = size, limit

    def read(self, table: Table, key: str, default: Any, base: Path) -> tuple[tuple[str, Any], ...]:
        """The table's entries, in order (checked on construction)."""
        mapping = table.get(key, dict, default, fix=f"add `{key} = {{ front_distance_m = 0, … }}`")
        return tuple(mapping.items())

    def check(self, key: str, value: Any, owner: Any) -> Problem | None:
        """A problem unless each index is in range and used once."""
        size = getattr(owner, self.size) if self.size else None
        limit = size - 1 if isinstance(size, int) and size > 0 else self.limit
        positions: dict[int, str] = {}
        for name, index in value:
            where = f"{key}.{name}"
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= limit:
                fix = "give the 0-based position of this channel's value"
                return Problem(where, f"expected an index 0..{limit}, found {shown(index)}", fix)
            if index in positions:
                problem = f"index {index} is already used by channel {positions[index]!r}"
                return Problem(where, problem, "give each channel its own position")
            positions[index] = name
        return None

    def normalise(self, value: Any) -> tuple[tuple[str, int], ...]:
        """A tuple of (name, index) pairs."""
        return tuple((str(name), int(index)) for name, index in value)


class MotorSteps(Rule):
    """``[[left duty, right duty, duration_s], ...]``: duties in [-1, 1], durations 0..10 s."""

    toml_type = list
    fix = "write each step as three numbers, e.g. [-0.5, -0.5, 0.6]"

    def read(self, table: Table, key: str, default: Any, base: Path) -> Any:
        """The array as written (checked on construction)."""
        return table.get(key, list, default, fix=self.fix)

    def check(self, key: str, value: Any, owner: Any) -> Problem | None:
        """A problem unless every step is three numbers in range."""
        if not isinstance(value, list | tuple):
            return Problem(key, f"expected an array, found {describe(value)}", self.fix)
        for index, step in enumerate(value):
            numbers = (
                isinstance(step, list | tuple)
                and len(step) == 3
                and all(is_number(v) and math.isfinite(v) for v in step)
            )
            if not numbers:
                problem = f"step {index}: expected [left duty, right duty, duration_s]"
                return Problem(key, f"{problem}, found {shown(step)}", self.fix)
            left, right, duration_s = step
            if not (-1.0 <= left <= 1.0 and -1.0 <= right <= 1.0 and 0.0 <= duration_s <= 10.0):
                problem = f"step {index}: expected duties in -1..1 and a duration in 0..10 s"
                fix = "choose duties between -1 and 1 and a duration between 0 and 10 s"
                return Problem(key, f"{problem}, found {shown(step)}", fix)
        return None

    def normalise(self, value: Any) -> tuple[tuple[float, float, float], ...]:
        """A tuple of (left, right, duration_s) float triples."""
        return tuple((float(a), float(b), float(c)) for a, b, c in value)
