"""Typed access to one TOML table, with errors that name the file, the key path and the fix."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from robot.errors import ConfigError

#: No default: the key is required.
MISSING: Any = object()
_TYPE_NAMES = {
    bool: "a boolean (true/false)",
    int: "an integer",
    float: "a number",
    str: "a string",
    dict: "a table",
    list: "an array",
}
#: The most characters of a value an error shows (a config may hold a 1 MiB string).
_SHOWN_CHARS = 80


class Table:
    """One table of ``robot.toml``: read each key once with its type; ``done()`` flags leftovers.

    Types only: ranges and rules between keys are the sections' own (``robot.config.section``).

    Every error reads ``<file>: [<key path>] …: expected …, found …; <fix>``.
    """

    def __init__(self, data: Any, path: str, file: Path) -> None:
        self.path = path
        self.file = file
        if not isinstance(data, dict):
            raise self.error("", f"expected a table, found {describe(data)}", "write it as [...]")
        self._data: dict[str, Any] = data
        self._used: set[str] = set()

    def key_path(self, key: str) -> str:
        """The dotted path of ``key`` inside this table."""
        return f"{self.path}.{key}" if self.path and key else (self.path or key)

    def error(self, key: str, problem: str, fix: str) -> ConfigError:
        """A ConfigError naming the file and ``key``'s path."""
        return ConfigError(f"{self.file}: [{self.key_path(key)}] {problem}; {fix}")

    def has(self, key: str) -> bool:
        """Whether the table has ``key`` (it is not marked as read)."""
        return key in self._data

    def get(self, key: str, kind: Any, default: Any = MISSING, *, fix: str = "") -> Any:
        """The value of ``key`` as ``kind`` (ints as floats where ``kind`` is float)."""
        self._used.add(key)
        if key not in self._data:
            if default is MISSING:
                raise self.error(key, "is missing", fix or f"add `{key} = …` to [{self.path}]")
            return default
        value = self._data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(
                key,
                f"expected {_type_name(kind)}, found {describe(value)}",
                fix or f"write {key} as {_type_name(kind)}",
            )
        if kind is float and not math.isfinite(value):
            raise self.error(key, f"expected a finite number, found {value!r}", "give a number")
        return value

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
                key, f"expected an array of tables, found {describe(items)}", f"use [[{key}]]"
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


def describe(value: Any) -> str:
    """A value as errors show it, with its type (``str 'fast'``, ``an array [1, 2]``)."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return f"an array {shown(value)}"
    return f"{type(value).__name__} {shown(value)}"


def shown(value: Any) -> str:
    """``repr(value)``, cut to ``_SHOWN_CHARS`` so that a message stays one readable line."""
    text = repr(value)
    if len(text) <= _SHOWN_CHARS:
        return text
    return f"{text[: _SHOWN_CHARS - 1]}… ({len(text):,} characters)"
