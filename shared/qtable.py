"""The Q-table: values and visit counts over the discretiser's grid, and crash-safe snapshots.

A snapshot file is one header line, ``SIM2PI-QTABLE 1 <payload bytes> <sha256 of payload>``,
followed by an ``np.savez`` payload (values, visits, and the discretiser and learner state as
UTF-8 JSON in uint8 arrays; never pickle). Snapshots are written atomically (temp file, fsync,
rename, fsync of the directory), numbered ``qtable-00000001.snap`` upwards, and the newest ``keep``
are kept, so a robot that loses power mid-save restarts from the newest good one. One process
writes a snapshot directory at a time (the robot's learner); a save removes temp files that an
interrupted save left behind.
"""

from __future__ import annotations

import copy as _copy
import hashlib
import io
import json
import logging
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shared.discretize import Discretizer
from shared.errors import NoSnapshotError, QTableError, SnapshotError, SpecError
from shared.files import MIB, FileLimits
from shared.npy import NpyFormatError, NpyHeader, read_header, read_npy

logger = logging.getLogger(__name__)

MAGIC = b"SIM2PI-QTABLE"
SNAPSHOT_VERSION = 1
SNAPSHOT_GLOB = "qtable-*.snap"
TEMP_PREFIX = ".qtable-"
TEMP_SUFFIX = ".tmp"
_SNAPSHOT_NAME = re.compile(r"qtable-(\d{8,})\.snap")
_MAX_HEADER_BYTES = 256  # the header is ~100 bytes; anything longer is not a header
_PAYLOAD_KEYS = frozenset({"values", "visits", "discretizer", "meta"})
#: A bundle's ``qtable.npy``: 64 MiB is 8 M float64 values, 13,000 times the 125 × 5 table of
#: the reference robot, and as much as a 512 MB Pi can hold twice (float64 and a float32 copy).
NPY_LIMITS = FileLimits(
    "bundle Q-table",
    max_bytes=64 * MIB,
    fix="re-export the Q-table for this spec (`python -m trainer export RUN --qtable`) and copy "
    "the bundle again",
    error=QTableError,
)
#: A snapshot holds values and visits (8 bytes each) of such a table, and a little JSON.
SNAPSHOT_LIMITS = FileLimits(
    "Q-table snapshot",
    max_bytes=2 * NPY_LIMITS.max_bytes + MIB,
    fix="move it aside or delete it (load_latest falls back to the newest snapshot that loads)",
    error=SnapshotError,
)


@dataclass(eq=False)  # numpy arrays have no single truth value to compare by
class QTable:
    """Action values and visit counts for every discrete state, with the learner's state."""

    #: Q-values, float64, shape (n_states, n_actions).
    values: np.ndarray
    #: How often each (state, action) was updated, int64, same shape as ``values``.
    visits: np.ndarray
    #: The grid that maps observations to the table's rows.
    discretizer: Discretizer
    #: JSON-serialisable learner state (update count, epsilon, ...).
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        visits = np.asarray(self.visits)
        if not isinstance(self.discretizer, Discretizer):
            raise QTableError(f"discretizer: expected a Discretizer, found {self.discretizer!r}")
        if values.dtype.kind not in "fiu":
            raise QTableError(f"Q-table values: expected real numbers, found dtype {values.dtype}")
        n_states = self.discretizer.n_states
        if values.ndim != 2 or values.shape[0] != n_states or values.shape[1] < 1:
            raise QTableError(
                f"Q-table values: expected shape ({n_states}, n_actions) with n_states from the "
                f"discretizer {self.discretizer.n_bins}, found {values.shape}; rebuild the table "
                "for this discretizer"
            )
        if visits.shape != values.shape or visits.dtype.kind not in "iu":
            raise QTableError(
                f"Q-table visits: expected integers of shape {values.shape} (like values), "
                f"found {visits.dtype} of shape {visits.shape}"
            )
        if not np.isfinite(values).all():
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(values))[0])
            raise QTableError(
                f"Q-table values: expected finite numbers, found {values[bad]!r} at "
                f"(state, action) {bad}; the learning diverged, lower the learning rate"
            )
        if not isinstance(self.meta, dict):
            raise QTableError(f"Q-table meta: expected a dict, found {self.meta!r}")
        self.values = values.astype(np.float64, copy=False)
        self.visits = visits.astype(np.int64, copy=False)

    @classmethod
    def zeros(
        cls, discretizer: Discretizer, n_actions: int, meta: dict[str, Any] | None = None
    ) -> QTable:
        """An all-zero, never-visited table for ``discretizer`` and ``n_actions`` actions."""
        shape = (discretizer.n_states, n_actions)
        return cls(np.zeros(shape), np.zeros(shape, np.int64), discretizer, dict(meta or {}))

    @property
    def n_states(self) -> int:
        """Number of discrete states (rows)."""
        return int(self.values.shape[0])

    @property
    def n_actions(self) -> int:
        """Number of actions (columns)."""
        return int(self.values.shape[1])

    def greedy(self, state_index: int) -> int:
        """The action with the highest value in a state (the first one on a tie)."""
        if not 0 <= state_index < self.values.shape[0]:
            raise QTableError(
                f"state index: expected 0 <= index < {self.values.shape[0]}, found {state_index}"
            )
        return int(self.values[state_index].argmax())

    def copy(self) -> QTable:
        """A deep copy: arrays and meta are not shared with this table."""
        return QTable(
            self.values.copy(), self.visits.copy(), self.discretizer, _copy.deepcopy(self.meta)
        )


@dataclass(frozen=True)
class LoadResult:
    """The snapshot ``load_latest`` used and the newer ones it had to skip, with reasons."""

    qtable: QTable
    path: Path
    skipped: tuple[tuple[Path, str], ...]


class _DefectError(Exception):
    """Why a snapshot's bytes are not a Q-table (the caller adds the file name)."""


def _sequence(path: Path) -> int:
    """The sequence number in a snapshot's name, or -1 if it is not a snapshot name."""
    match = _SNAPSHOT_NAME.fullmatch(path.name)
    return int(match.group(1)) if match else -1


def list_snapshots(directory: str | Path) -> list[Path]:
    """Snapshot files in ``directory``, oldest to newest by sequence number."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.glob(SNAPSHOT_GLOB) if _sequence(p) >= 0 and p.is_file()]
    return sorted(found, key=_sequence)


def save_snapshot(directory: str | Path, qtable: QTable, keep: int = 5) -> Path:
    """Write ``qtable`` atomically as the next snapshot in ``directory``; keep the newest K."""
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise QTableError(f"keep: expected an integer >= 1 (snapshots to keep), found {keep!r}")
    directory = Path(directory)
    data = _encode(qtable)  # before touching the disk: a bad meta must not leave debris
    directory.mkdir(parents=True, exist_ok=True)
    for leftover in directory.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        logger.info("removing %s, left by an interrupted save", leftover)
        leftover.unlink(missing_ok=True)
    existing = list_snapshots(directory)
    # Never reuse a number, even of a corrupt file: names must order snapshots by age.
    target = directory / f"qtable-{1 + (_sequence(existing[-1]) if existing else 0):08d}.snap"
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)  # makes the rename itself survive a power cut
    for old in list_snapshots(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return target


def load_snapshot(path: str | Path) -> QTable:
    """Read one snapshot, verifying its magic, length and checksum."""
    path = Path(path)
    try:
        data = SNAPSHOT_LIMITS.read_bytes(path)
    except FileNotFoundError:
        raise NoSnapshotError(f"{path}: no such Q-table snapshot file") from None
    try:
        return _decode(data)
    except _DefectError as exc:
        raise SnapshotError(
            f"{path}: {exc}; move it aside or delete it "
            "(load_latest falls back to the newest snapshot that loads)"
        ) from None


def load_latest(directory: str | Path) -> LoadResult:
    """The newest snapshot in ``directory`` that loads, skipping torn or corrupt newer ones."""
    directory = Path(directory)
    snapshots = list_snapshots(directory)
    skipped: list[tuple[Path, str]] = []
    for path in reversed(snapshots):
        try:
            qtable = _decode(SNAPSHOT_LIMITS.read_bytes(path))
        except (_DefectError, SnapshotError, OSError) as exc:
            reason = str(exc).removeprefix(f"{path}: ")
            logger.warning("skipping Q-table snapshot %s: %s", path, reason)
            skipped.append((path, reason))
            continue
        logger.info(
            "loaded Q-table snapshot %s (%d states × %d actions, %d newer skipped)",
            path,
            qtable.n_states,
            qtable.n_actions,
            len(skipped),
        )
        return LoadResult(qtable, path, tuple(skipped))
    if not skipped:
        raise NoSnapshotError(
            f"{directory}: no Q-table snapshot ({SNAPSHOT_GLOB}) found; "
            "start from the bundle's qtable.npy instead"
        )
    tried = "; ".join(f"{path.name}: {reason}" for path, reason in skipped)
    raise NoSnapshotError(
        f"{directory}: no loadable Q-table snapshot, tried {len(skipped)}: {tried}; "
        "move them aside and start from the bundle's qtable.npy"
    )


def save_npy(path: str | Path, values: np.ndarray) -> None:
    """Write a bundle Q-table (float32 or float64, 2-D, finite) as ``.npy``."""
    path = Path(path)
    _check_npy_values(path, values, None)
    with path.open("wb") as out:
        np.save(out, values, allow_pickle=False)


def load_npy(path: str | Path, n_states: int, n_actions: int) -> np.ndarray:
    """Read a bundle Q-table and check it is finite with shape (n_states, n_actions); float64."""
    shape = (n_states, n_actions)

    def judge(header: NpyHeader) -> str | None:
        # Before a byte of data is allocated: a header may claim (10**11, 5), 3.6 TiB.
        if header.dtype not in (np.float32, np.float64):
            return f"expected a float32 or float64 array, found {header.dtype}"
        if header.shape != shape:
            return f"expected shape {shape} {_SHAPE_MEANING}, found {header.shape}"
        return None

    values = read_npy(path, NPY_LIMITS, judge)
    _check_npy_values(Path(path), values, shape)
    return values.astype(np.float64, copy=False)


def _check_npy_values(path: Path, values: Any, shape: tuple[int, int] | None) -> None:
    """Raise QTableError naming ``path`` unless ``values`` is a finite float 2-D array."""
    if not isinstance(values, np.ndarray) or values.dtype not in (np.float32, np.float64):
        found = values.dtype if isinstance(values, np.ndarray) else type(values).__name__
        raise QTableError(f"{path}: expected a float32 or float64 array, found {found}")
    if values.ndim != 2 or (shape is not None and values.shape != shape):
        expected = "(n_states, n_actions)" if shape is None else str(shape)
        raise QTableError(
            f"{path}: expected shape {expected} {_SHAPE_MEANING}, found {values.shape}; "
            "re-export the Q-table for this spec"
        )
    if not np.isfinite(values).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(values))[0])
        raise QTableError(
            f"{path}: expected finite values, found {values[bad]!r} at (state, action) {bad}; "
            "re-train or re-export the Q-table"
        )


_SHAPE_MEANING = "(states of the discretizer × actions of the action table)"


def _json_default(value: Any) -> Any:
    """Let numpy scalars and arrays in ``meta`` serialise as plain JSON."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-serialisable")


def _json_bytes(obj: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(obj, default=_json_default).encode("utf-8"), dtype=np.uint8)


def _encode(qtable: QTable) -> bytes:
    """The snapshot bytes of ``qtable``: header line, then the checksummed payload."""
    try:
        meta = _json_bytes(qtable.meta)
    except (TypeError, ValueError) as exc:
        raise QTableError(
            f"Q-table meta: expected JSON-serialisable learner state, found {qtable.meta!r} "
            f"({exc}); store plain numbers, strings, lists and dicts"
        ) from None
    buffer = io.BytesIO()
    np.savez(
        buffer,
        values=qtable.values,
        visits=qtable.visits,
        discretizer=_json_bytes(qtable.discretizer.to_dict()),
        meta=meta,
    )
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    header = b"%s %d %d %s\n" % (MAGIC, SNAPSHOT_VERSION, len(payload), digest.encode("ascii"))
    return header + payload


def _decode(data: bytes) -> QTable:
    """The Q-table in snapshot bytes, or _DefectError saying what is wrong with them."""
    newline = data.find(b"\n", 0, _MAX_HEADER_BYTES)
    if newline < 0:
        if not data:
            raise _DefectError("empty file (a save was cut off before writing anything)")
        if not (data.startswith(MAGIC) or MAGIC.startswith(data)):
            raise _DefectError(f"bad magic: expected {MAGIC!r}, found {data[: len(MAGIC)]!r}")
        if len(data) < _MAX_HEADER_BYTES:
            raise _DefectError(f"truncated inside the header: only {len(data)} bytes")
        raise _DefectError(f"malformed header: no line end in the first {_MAX_HEADER_BYTES} bytes")
    fields = data[:newline].split(b" ")
    if fields[0] != MAGIC:
        raise _DefectError(f"bad magic: expected {MAGIC!r}, found {fields[0][:32]!r}")
    if len(fields) != 4 or not fields[2].isdigit() or len(fields[3]) != 64:
        raise _DefectError(f"malformed header {data[:newline]!r}")
    if fields[1] != str(SNAPSHOT_VERSION).encode():
        raise _DefectError(
            f"format version {fields[1].decode(errors='replace')!r}, expected "
            f"{SNAPSHOT_VERSION} (written by another version of sim2pi)"
        )
    expected = newline + 1 + int(fields[2])
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "trailing data"
        raise _DefectError(f"{what}: expected {expected} bytes, found {len(data)}")
    payload = data[newline + 1 :]
    digest = hashlib.sha256(payload).hexdigest()
    if digest != fields[3].decode("ascii", errors="replace"):
        raise _DefectError(
            f"checksum mismatch: header says sha256 {fields[3].decode(errors='replace')}, "
            f"payload has {digest}"
        )
    try:
        _check_members(payload)
        with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
            if set(archive.files) != _PAYLOAD_KEYS:
                raise _DefectError(
                    f"payload holds {sorted(archive.files)}, expected {sorted(_PAYLOAD_KEYS)}"
                )
            arrays = {key: archive[key] for key in _PAYLOAD_KEYS}
        discretizer = Discretizer.from_dict(json.loads(arrays["discretizer"].tobytes()))
        meta = json.loads(arrays["meta"].tobytes())
        return QTable(arrays["values"], arrays["visits"], discretizer, meta)
    except (ValueError, OSError, EOFError, KeyError, RecursionError, zipfile.BadZipFile) as exc:
        # SpecError, QTableError and JSONDecodeError are ValueErrors too; RecursionError is
        # JSON nested too deep.
        kind = "discretizer" if isinstance(exc, SpecError) else "payload"
        raise _DefectError(f"bad {kind} despite a good checksum: {exc}") from None


def _check_members(payload: bytes) -> None:
    """Raise _DefectError unless each array in the payload is as long as its header says.

    ``np.load`` allocates what a member's header claims before reading it: the claim is
    checked against the member's size first.
    """
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        for info in archive.infolist():
            if info.file_size > len(payload):  # np.savez stores, never compresses
                raise _DefectError(f"payload member {info.filename} claims {info.file_size} bytes")
            with archive.open(info) as member:
                try:
                    header = read_header(member)  # type: ignore[arg-type]
                except NpyFormatError as exc:
                    raise _DefectError(f"payload member {info.filename}: {exc}") from None
                if header.data_bytes > info.file_size:
                    raise _DefectError(
                        f"payload member {info.filename}: header says {header.describe()}, "
                        f"more than its {info.file_size} bytes"
                    )


def _fsync_dir(directory: Path) -> None:
    """Flush a directory's entries (a rename, a new file) to disk."""
    if os.name == "nt":  # Windows cannot open a directory; NTFS journals the rename itself
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
