"""Writing a robot profile (``trainer.robot_profile``'s format) as TOML, e.g. for ``fit-robot``.

The standard library reads TOML but does not write it; a profile holds only strings, numbers,
booleans, arrays of those and tables, which is all this writes. What it writes reads back
(``read_profile``) to the same values.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainer.robot_profile import FORMAT, SOURCES

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def profile_toml(
    *,
    name: str,
    env_id: str,
    env: Mapping[str, Any],
    source: str = "hand",
    tables: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """A profile's text: ``[profile]``, ``[env]``, then ``tables`` (``{"fit": {...}}``) in order."""
    if source not in SOURCES:
        raise ValueError(f"source: expected one of {SOURCES}, found {source!r}")
    clash = {"profile", "env"} & set(tables or {})
    if clash:
        raise ValueError(f"tables: {sorted(clash)} are the profile's own tables; use other names")
    header = {"format": FORMAT, "name": name, "env_id": env_id, "source": source}
    lines: list[str] = []
    _table(lines, ("profile",), header)
    _table(lines, ("env",), env)
    for key, table in (tables or {}).items():
        _table(lines, (key,), table)
    return "\n".join(lines).lstrip("\n") + "\n"


def write_profile(path: str | Path, text: str) -> Path:
    """Write a profile's text atomically (temp file + rename); the path written."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def _table(lines: list[str], keys: tuple[str, ...], table: Mapping[str, Any]) -> None:
    """``[a.b]`` with its values, then its sub-tables, each under its own header (a table of
    sub-tables alone gets none: ``[fit.motor_gain]`` makes ``fit``)."""
    subtables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
    values = [(k, v) for k, v in table.items() if not isinstance(v, Mapping)]
    if values or not subtables:
        lines.append("")
        lines.append(f"[{'.'.join(_key(k) for k in keys)}]")
    lines.extend(f"{_key(key)} = {_value(value, key)}" for key, value in values)
    for key, value in subtables:
        _table(lines, (*keys, key), value)


def _key(key: str) -> str:
    """A bare key where TOML allows one, else a quoted key."""
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any, key: str) -> str:
    """One TOML value: a boolean, integer, float, string or array of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)  # the shortest form that reads back exactly, e.g. 0.6, 1e-05
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item, key) for item in value) + "]"
    raise ValueError(
        f"{key}: a robot profile holds strings, numbers, booleans, arrays and tables, "
        f"found {type(value).__name__} {value!r}"
    )
