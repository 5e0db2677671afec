"""A config section: a frozen dataclass whose fields carry their default, range and unit.

Declare a key in one line, e.g. ``rate_hz: float = number(20.0, low=1.0, high=200.0,
unit="Hz")``. ``parse_section`` reads any section from its TOML table generically; the same
rules run on construction (``Section.__post_init__``), so a value set in Python code is refused
exactly as the TOML key would be. Rules between fields go in ``Section.cross_checks``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from robot.config.rules import (
    RULE,
    Choice,
    FilePath,
    Flag,
    Integer,
    Number,
    PinRule,
    Problem,
    Rule,
    Text,
)
from robot.config.toml_table import MISSING, Table
from robot.errors import ConfigError

S = TypeVar("S", bound="Section")


class FieldError(ConfigError):
    """A section's value breaks its rule; ``located`` names the file and table it came from."""

    def __init__(self, problem: Problem, section: str) -> None:
        self.problem = problem
        super().__init__(_message(problem, lambda key: _join(section, key)))

    def located(self, table: Table) -> ConfigError:
        """The same error, naming ``table``'s file and key path."""
        return ConfigError(f"{table.file}: {_message(self.problem, table.key_path)}")


def _join(section: str, key: str) -> str:
    return f"{section}.{key}" if section and key else (section or key)


def _message(problem: Problem, path: Any) -> str:
    text = problem.problem if problem.ref is None else f"{problem.problem} [{path(problem.ref)}]"
    return f"[{path(problem.key)}] {text}; {problem.fix}"


class Section:
    """Base of every config section: each field's rule (and ``cross_checks``) on construction."""

    #: Where the section lives in ``robot.toml`` (names the key in errors outside parsing).
    toml_path: ClassVar[str] = ""
    #: Keys this section once had → where they live now (an old config gets the way there).
    moved_keys: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            rule = field.metadata.get(RULE)
            if rule is None:
                continue
            value = getattr(self, field.name)
            if (problem := rule.check(field.name, value, self)) is not None:
                raise FieldError(problem, self.toml_path)
            object.__setattr__(self, field.name, rule.normalise(value))
        for problem in self.cross_checks():
            if problem is not None:
                raise FieldError(problem, self.toml_path)

    def cross_checks(self) -> Iterable[Problem | None]:
        """Rules between fields, checked after each field's own (none by default)."""
        return ()


def parse_section(cls: type[S], table: Table, base: Path, **given: Any) -> S:
    """Read ``cls`` from ``table`` (paths relative to ``base``); ``given`` fields are not read."""
    values = dict(given)
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        rule = field.metadata.get(RULE)
        if rule is None or field.name in values:
            continue
        values[field.name] = rule.read(table, field.name, _default(field, rule), base)
    for key, now in cls.moved_keys.items():
        if table.has(key):
            raise table.error(key, f"has moved to [{now}]", f"move the key there ({now})")
    table.done()
    try:
        return cls(**values)
    except FieldError as exc:
        raise exc.located(table) from None


def read_checked(rule: Rule, table: Table, key: str) -> Any:
    """One key read and checked at once (a value the parse depends on, e.g. the backend)."""
    value = rule.read(table, key, MISSING, Path())
    if (problem := rule.check(key, value, None)) is not None:
        raise FieldError(problem, "").located(table)
    return rule.normalise(value)


def not_above(section: Any, key: str, limit: str) -> Problem | None:
    """``key`` must not exceed the field ``limit``."""
    value, bound = getattr(section, key), getattr(section, limit)
    if value <= bound:
        return None
    fix = f"lower {key} or raise {limit}"
    return Problem(key, f"expected <= {limit} ({bound}), found {value}", fix)


def not_below(section: Any, key: str, limit: str) -> Problem | None:
    """``key`` must not be below the field ``limit``."""
    value, bound = getattr(section, key), getattr(section, limit)
    if value >= bound:
        return None
    fix = f"raise {key} or lower {limit}"
    return Problem(key, f"expected >= {limit} ({bound}), found {value}", fix)


def _default(field: dataclasses.Field, rule: Rule) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    return rule.absent


# --- the one-line declarations ---------------------------------------------------------------


def ruled(rule: Rule, default: Any = MISSING) -> Any:
    """A dataclass field checked by ``rule``; without ``default`` the key is required."""
    if default is MISSING:
        return dataclasses.field(metadata={RULE: rule})
    return dataclasses.field(default=default, metadata={RULE: rule})


def number(
    default: float = MISSING,
    *,
    low: float,
    high: float,
    unit: str = "",
    above: bool = False,
    unlimited: bool = False,
) -> Any:
    """A float in [low, high]; ``above``: low excluded; ``unlimited``: inf allowed in Python."""
    return ruled(Number(low, high, unit, above=above, unlimited=unlimited), default)


def integer(default: int = MISSING, *, low: int, high: int) -> Any:
    """An int in [low, high]."""
    return ruled(Integer(low, high), default)


def flag(default: bool = MISSING) -> Any:
    """A bool."""
    return ruled(Flag(), default)


def text(default: str | None = MISSING, *, fix: str = "") -> Any:
    """A string (None as the default: optional); ``fix`` says what to write."""
    return ruled(Text(fix, optional=default is None), default)


def choice(choices: tuple[str, ...], default: str = MISSING) -> Any:
    """One of ``choices``."""
    return ruled(Choice(choices), default)


def file_path(default: Path = MISSING) -> Any:
    """A path (relative to the config file's directory in TOML)."""
    return ruled(FilePath(), default)


def gpio_pin(*, optional: bool = False) -> Any:
    """A GPIO pin (None by default where ``optional``)."""
    return ruled(PinRule(optional=optional), None if optional else MISSING)


class SubSection(Rule):
    """A sub-table parsed as ``cls``: required, or absent → None, or absent → its defaults."""

    toml_type = dict

    def __init__(self, cls: type[Section], absent: str) -> None:
        assert absent in ("required", "none", "defaults"), absent  # a declaration's typo
        self.cls, self.when_absent = cls, absent
        self.absent = None

    def read(self, table: Table, key: str, default: Any, base: Path) -> Any:
        """The sub-section (nested sections checked themselves when built)."""
        sub = table.table(key, optional=self.when_absent != "required")
        if sub is None:
            if self.when_absent == "none":
                return None
            sub = Table({}, table.key_path(key), table.file)
        return parse_section(self.cls, sub, base)


class SubSections(Rule):
    """An array of tables (``[[key]]``), each parsed as ``cls``; absent: none."""

    toml_type = list
    absent = ()

    def __init__(self, cls: type[Section]) -> None:
        self.cls = cls

    def read(self, table: Table, key: str, default: Any, base: Path) -> tuple[Any, ...]:
        """Every entry, parsed."""
        return tuple(parse_section(self.cls, sub, base) for sub in table.tables(key))

    def normalise(self, value: Any) -> tuple[Any, ...]:
        """A tuple."""
        return tuple(value)


def section(cls: type[Section], *, absent: str = "required") -> Any:
    """A sub-table: ``absent`` is "required", "none" (None) or "defaults" (an empty table read)."""
    return ruled(SubSection(cls, absent))


def sections(cls: type[Section]) -> Any:
    """An array of tables of ``cls`` (a tuple; absent in TOML: empty)."""
    return ruled(SubSections(cls))
