"""Typed access to one TOML table, with errors that name the file, the key path and the fix."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from robot.errors import ConfigError

T = TypeVar("T")
_MISSING: Any = object()
_TYPE_NAMES = {
    bool: "a boolean (true/false)",
    int: "an integer",
    float: "a number",
    str: "a string",
    dict: "a table",
    list: "an array",
}


class Table:
    """One table of ``robot.toml``: read each key once with its type; ``done()`` flags leftovers.

    Every error reads ``<file>: [<key path>] …: expected …, found …; <fix>``.
    """

    def __init__(self, data: Any, path: str, file: Path) -> None:
        self.path = path
        self.file = file
        if not isinstance(data, dict):
            raise self.error("", f"expected a table, found {_describe(data)}", "write it as [...]")
        self._data: dict[str, Any] = data
        self._used: set[str] = set()

    def key_path(self, key: str) -> str:
        """The dotted path of ``key`` inside this table."""
        return f"{self.path}.{key}" if self.path and key else (self.path or key)

    def error(self, key: str, problem: str, fix: str) -> ConfigError:
        """A ConfigError naming the file and ``key``'s path."""
        return ConfigError(f"{self.file}: [{self.key_path(key)}] {problem}; {fix}")

    def has(self, key: str) -> bool:
        """Whether ``key`` is present (and known: ``done()`` will not flag it)."""
        self._used.add(key)
        return key in self._data

    def get(
        self,
        key: str,
        kind: type[T],
        default: T = _MISSING,
        *,
        check: Callable[[T], str | None] | None = None,
        fix: str = "",
    ) -> T:
        """The value of ``key`` as ``kind``; ``check`` returns a problem text or None."""
        self._used.add(key)
        if key not in self._data:
            if default is _MISSING:
                raise self.error(key, "is missing", fix or f"add `{key} = …` to [{self.path}]")
            return default
        value = self._data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(
                key,
                f"expected {_type_name(kind)}, found {_describe(value)}",
                fix or f"write {key} as {_type_name(kind)}",
            )
        if kind is float and not math.isfinite(value):
            raise self.error(key, f"expected a finite number, found {value!r}", "give a number")
        if check is not None and (problem := check(value)) is not None:
            raise self.error(key, f"{problem}, found {value!r}", fix or "see the example configs")
        return value

    def number(self, key: str, default: float, low: float, high: float, unit: str = "") -> float:
        """A float within [low, high]."""
        suffix = f" {unit}" if unit else ""
        return self.get(
            key,
            float,
            default,
            check=lambda v: None if low <= v <= high else f"expected {low}..{high}{suffix}",
            fix=f"choose a value between {low} and {high}{suffix}",
        )

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        """An int within [low, high]."""
        return self.get(
            key,
            int,
            default,
            check=lambda v: None if low <= v <= high else f"expected {low}..{high}",
            fix=f"choose an integer between {low} and {high}",
        )

    def choice(self, key: str, choices: tuple[str, ...], default: str = _MISSING) -> str:
        """A string among ``choices``."""
        return self.get(
            key,
            str,
            default,
            check=lambda v: None if v in choices else f"expected one of {list(choices)}",
            fix=f"use one of {', '.join(repr(c) for c in choices)}",
        )

    def table(self, key: str, *, optional: bool = False) -> Table | None:
        """The sub-table ``key`` (None if optional and absent)."""
        self._used.add(key)
        if key not in self._data:
            if optional:
                return None
            raise self.error(key, "is missing", f"add a [{self.key_path(key)}] table")
        return Table(self._data[key], self.key_path(key), self.file)

    def tables(self, key: str) -> list[Table]:
        """The array of tables ``key`` ([[key]] entries); empty if absent."""
        self._used.add(key)
        items = self._data.get(key, [])
        if not isinstance(items, list):
            raise self.error(
                key, f"expected an array of tables, found {_describe(items)}", f"use [[{key}]]"
            )
        return [
            Table(item, f"{self.key_path(key)}[{i}]", self.file) for i, item in enumerate(items)
        ]

    def done(self) -> None:
        """Raise on the first key that was never read: it is unknown (probably a typo)."""
        for key in self._data:
            if key not in self._used:
                known = sorted(self._used)
                raise self.error(
                    key,
                    "is not a known key",
                    f"remove it or fix its spelling (known here: {', '.join(known) or 'none'})",
                )


def _type_name(kind: Any) -> str:
    if kind in _TYPE_NAMES:
        return _TYPE_NAMES[kind]
    members = getattr(kind, "__args__", ())
    if members:
        return " or ".join(_TYPE_NAMES.get(m, m.__name__) for m in members)
    return getattr(kind, "__name__", str(kind))


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return f"an array {value!r}"
    return f"{type(value).__name__} {value!r}"
