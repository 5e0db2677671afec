"""Reading the robot's telemetry: rotated JSON Lines files in order, records, runs.

``robot run`` (and ``trainer sil run``) append one JSON object per written tick to
``ticks.jsonl`` and rotate it to ``ticks.jsonl.1`` (older), ``.2`` (older still) …
(``robot.control.telemetry.TelemetryWriter``). A restarted runtime appends to the same file, so
one file can hold several runs: a run ends where ``tick`` goes back or ``t_s`` jumps back.
"""

from __future__ import annotations

import glob
import json
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.errors import UsageError

#: Every record of ``TickTrace.record`` starts with this (the writer's compact separators).
RECORD_START = '{"t_s":'
_ROTATED = re.compile(r"^(?P<base>.+)\.(?P<n>[0-9]+)$")
_FIX = "give the JSON Lines files a robot's [telemetry] path names (ticks.jsonl and its .N)"
#: Bounds beyond which a record's clock is not a robot's: a tick counted from 0 at 20 Hz reaches
#: 2**53 after 14 million years; 1e12 s is 31,000 years of a monotonic clock.
MAX_TICK, MAX_T_S = 2**53, 1e12
#: The largest action index taken for one (a bundle's action table is a handful).
MAX_ACTION = 1023


class TelemetryFileError(UsageError):
    """A telemetry file that is missing, empty or not the robot's JSON Lines."""


@dataclass(frozen=True)
class Record:
    """One tick's telemetry record, and where it was read."""

    fields: dict[str, Any]
    path: Path
    line: int

    @property
    def tick(self) -> int:
        """The loop's tick number (counted from 0 at the runtime's start)."""
        return int(self.fields["tick"])

    @property
    def t_s(self) -> float:
        """When the tick started, on the loop's clock (seconds)."""
        return float(self.fields["t_s"])


@dataclass
class Run:
    """The records of one start of the runtime, in order."""

    number: int
    records: list[Record] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        """The files its records came from, oldest first."""
        return list(dict.fromkeys(r.path for r in self.records))

    def values(self, key: str) -> list[Any]:
        """Each record's ``key`` (None where a record lacks it)."""
        return [r.fields.get(key) for r in self.records]


def rotation_key(path: Path) -> tuple[str, int]:
    """``(base name, rotation number)``: ``ticks.jsonl.2`` → ``("…/ticks.jsonl", 2)``; 0 for
    the live file."""
    match = _ROTATED.match(path.name)
    if match is None:
        return str(path.parent / path.name), 0
    return str(path.parent / match["base"]), int(match["n"])


def telemetry_files(paths: Sequence[Path]) -> list[Path]:
    """The files to read, oldest first, each once.

    A live file (``ticks.jsonl``, or a link to one) brings its rotated siblings
    (``ticks.jsonl.N`` … ``.1``) that exist; files named explicitly are put in rotation order
    whatever order they were given in. Different bases (two robots' directories) keep the order
    they were first named in. Paths are resolved, so one file named two ways is read once.
    """
    groups: dict[str, set[int]] = {}
    for given in paths:
        path = _regular_file(given)
        base, number = rotation_key(path)
        numbers = groups.setdefault(base, set())
        numbers.add(number)
        if number == 0:
            numbers.update(_rotated_siblings(path))
    ordered: list[Path] = []
    for base, numbers in groups.items():
        for number in sorted(numbers, reverse=True):
            ordered.append(Path(base) if number == 0 else Path(f"{base}.{number}"))
    return ordered


def _regular_file(path: Path) -> Path:
    """``path`` resolved (links followed), when it is a regular file; else TelemetryFileError."""
    try:
        mode = path.stat().st_mode
        resolved = path.resolve()
    except FileNotFoundError:
        raise TelemetryFileError(f"{path}: no such file; {_FIX}") from None
    except (OSError, RuntimeError) as exc:  # too long a name, no permission, a loop of links
        reason = getattr(exc, "strerror", None) or str(exc)
        raise TelemetryFileError(
            f"{path}: cannot be looked up ({reason}); expected a readable file; {_FIX}, "
            f"readable by this user"
        ) from None
    if not stat.S_ISREG(mode):
        found = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        hint = f" (e.g. {path / 'ticks.jsonl'})" if stat.S_ISDIR(mode) else ""
        raise TelemetryFileError(
            f"{path}: not a regular file (found {found}); expected a telemetry file; {_FIX}{hint}"
        )
    return resolved


def _rotated_siblings(live: Path) -> list[int]:
    """The rotation numbers of ``live``'s siblings ``live.N`` that exist."""
    found = []
    try:
        for sibling in live.parent.glob(f"{glob.escape(live.name)}.*"):
            match = _ROTATED.match(sibling.name)
            if match is not None and match["base"] == live.name and sibling.is_file():
                found.append(int(match["n"]))
    except OSError:  # an unlistable directory: the live file alone (its error comes on reading)
        return []
    return found


def read_records(path: Path, note: Callable[[str], None]) -> list[Record]:
    """Every record of one file; a torn record (a crash mid-write) is skipped with a ``note``.

    TelemetryFileError for a line that is not a JSON object, or a record without a ``tick``
    or ``t_s`` number, naming the file and line.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TelemetryFileError(f"{path}: cannot be read ({exc.strerror}); {_FIX}") from None
    lines = data.split(b"\n")
    ends_torn = lines[-1] != b""  # the last line has no newline: its write never finished
    if not ends_torn:
        lines.pop()
    records: list[Record] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        last = number == len(lines)
        fields = _parse(raw, path, number, torn_allowed=last and ends_torn, note=note)
        if fields is not None:
            records.append(Record(fields, path, number))
    return records


def _parse(
    raw: bytes, path: Path, number: int, *, torn_allowed: bool, note: Callable[[str], None]
) -> dict[str, Any] | None:
    """One line's record; None for a torn last line."""
    where = f"{path}:{number}"
    try:
        # utf-8-sig: an editor's byte-order mark at the start of a file is not a torn record.
        text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        fields = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSON, UTF-8, digits over Python's limit
        if torn_allowed:
            note(f"{where}: skipped a torn last record ({len(raw)} bytes, a crash mid-write)")
            return None
        # A record torn by a crash, then the restarted runtime's first record on the same line.
        text = raw.decode("utf-8", errors="replace")
        start = text.find(RECORD_START, 1)
        if start > 0:
            try:
                fields = json.loads(text[start:])
            except (ValueError, RecursionError):
                fields = None
            if isinstance(fields, dict):
                note(f"{where}: skipped a torn record ({start} bytes) before the next record")
                return _checked(fields, where)
        raise TelemetryFileError(
            f"{where}: not JSON Lines ({_reason(exc)}); expected one JSON object per line, "
            f"found {_excerpt(raw)}; {_FIX}"
        ) from None
    if not isinstance(fields, dict):
        raise TelemetryFileError(
            f"{where}: expected a JSON object per line, found {type(fields).__name__} "
            f"{_excerpt(raw)}; {_FIX}"
        )
    return _checked(fields, where)


def _checked(fields: dict[str, Any], where: str) -> dict[str, Any]:
    """``fields`` when it has the ``tick`` and ``t_s`` every record has, within a robot's
    bounds, and an ``action`` that is null or an index (a hostile value never reaches a plot)."""
    for key, kind in (("tick", int), ("t_s", (int, float))):
        value = fields.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            found = "no such field" if key not in fields else _value(value)
            raise TelemetryFileError(
                f"{where}: a record without a numeric {key!r} (found {found}; keys: "
                f"{', '.join(sorted(fields)) or 'none'}); expected the robot's tick records; "
                f"{_FIX}"
            )
    tick, t_s = fields["tick"], fields["t_s"]
    if not 0 <= tick <= MAX_TICK:
        _out_of_range(where, "tick", tick, f"an integer in 0..{MAX_TICK}")
    if not -MAX_T_S <= t_s <= MAX_T_S:  # False for NaN; no float() of a 4,000-digit int
        _out_of_range(where, "t_s", t_s, f"a finite number of seconds within ±{MAX_T_S:g}")
    action = fields.get("action")
    if action is not None and not (
        isinstance(action, int) and not isinstance(action, bool) and 0 <= action <= MAX_ACTION
    ):
        _out_of_range(where, "action", action, f"null or an action index in 0..{MAX_ACTION}")
    return fields


def _out_of_range(where: str, key: str, value: object, expected: str) -> None:
    raise TelemetryFileError(
        f"{where}: {key} {_value(value)} is not a robot's; expected {expected}; {_FIX}"
    )


def _value(value: object, limit: int = 40) -> str:
    """``value`` for a message, cut short (a 4,000-digit number stays one line)."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, RecursionError):
        return "nested too deep"
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return str(exc).split(";")[0]  # e.g. a number of more digits than Python converts


def _excerpt(raw: bytes, limit: int = 40) -> str:
    text = raw[:limit].decode("utf-8", errors="replace")
    return repr(text + ("…" if len(raw) > limit else ""))


def split_runs(records: Sequence[Record]) -> list[Run]:
    """Records grouped into runs: a new run starts where ``tick`` or ``t_s`` goes back."""
    runs: list[Run] = []
    previous: Record | None = None
    for record in records:
        if previous is None or record.tick <= previous.tick or record.t_s < previous.t_s:
            runs.append(Run(number=len(runs) + 1))
        runs[-1].records.append(record)
        previous = record
    return runs


def read_runs(paths: Sequence[Path], note: Callable[[str], None]) -> list[Run]:
    """The runs in ``paths`` (rotated siblings included, oldest first).

    TelemetryFileError when there is nothing to read: a missing file, or no record in any file
    (an empty file beside others that have records is a ``note``).
    """
    files = telemetry_files(paths)
    records: list[Record] = []
    empty: list[Path] = []
    for path in files:
        found = read_records(path, note)
        if not found:
            empty.append(path)
        records += found
    if not records:
        names = ", ".join(str(p) for p in empty)
        raise TelemetryFileError(
            f"{names}: empty (no telemetry record); expected one JSON object per tick; run the "
            f"robot with [telemetry] enabled = true first"
        )
    for path in empty:
        note(f"{path}: empty, skipped")
    return split_runs(records)
