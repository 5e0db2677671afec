"""The learner's state on disk: snapshots in ``state_dir``, the best window's in ``state_dir/best``.

Values, visits and the learner state are saved with ``shared.qtable.save_snapshot`` (atomic,
checksummed, the newest ``keep`` kept). At start the newest snapshot whose checksum holds is
loaded, the bundle's table if none. A snapshot made for another bundle (other grid, action count
or bundle Q-table sha256) is never used: the snapshots are moved aside to
``state_dir/stale-<UTC time>/`` with a warning and learning restarts from the bundle.

The store holds the directory's lock (``state_lock``) from ``open`` until ``close``, so no other
process saves, prunes or moves snapshots there meanwhile.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from robot.learning.state_lock import StateDirLock
from shared.discretize import Discretizer
from shared.errors import NoSnapshotError
from shared.qtable import QTable, list_snapshots, load_latest, save_snapshot

_log = logging.getLogger(__name__)

META_VERSION = 1
BEST_DIR = "best"


def state_digest(values: np.ndarray, visits: np.ndarray) -> str:
    """A short sha256 of a table's values and visits (identifies one saved version)."""
    digest = hashlib.sha256(np.ascontiguousarray(values, np.float64).tobytes())
    digest.update(np.ascontiguousarray(visits, np.int64).tobytes())
    return digest.hexdigest()[:16]


def snapshot_mismatch(
    table: QTable, discretizer: Discretizer, n_actions: int, bundle_sha256: str
) -> str | None:
    """Why a snapshot was not learnt from this bundle's Q-table, or None if it was."""
    if table.discretizer != discretizer:
        return f"its grid {table.discretizer.n_bins} is not the bundle's"
    if table.n_actions != n_actions:
        return f"it has {table.n_actions} actions, the bundle {n_actions}"
    found = table.meta.get("bundle_qtable_sha256")
    if found != bundle_sha256:
        return f"it was learned from bundle Q-table sha256 {found}, not {bundle_sha256}"
    return None


class SnapshotStore:
    """One bundle's snapshots in a state directory: what to start from, saving, the best table."""

    def __init__(
        self,
        state_dir: Path,
        keep: int,
        discretizer: Discretizer,
        n_actions: int,
        bundle_sha256: str,
        *,
        on_save: Callable[[str, int, str], None] | None = None,
    ) -> None:
        """Snapshots of tables on ``discretizer`` × ``n_actions`` learnt from ``bundle_sha256``.

        ``on_save(stage, updates, digest)`` is called with stage ``"saving"`` before and
        ``"saved"`` after each snapshot is written (tests and benchmarks follow saves by it).
        """
        self.state_dir = Path(state_dir)
        self.keep = keep
        self.discretizer = discretizer
        self.n_actions = n_actions
        self.bundle_sha256 = bundle_sha256
        self.on_save = on_save
        self._lock: StateDirLock | None = None

    def lock(self) -> None:
        """Hold the state directory's lock (``StateDirBusyError`` if another process does)."""
        if self._lock is None:
            self._lock = StateDirLock.acquire(self.state_dir)

    def close(self) -> None:
        """Let go of the state directory's lock (safe twice; a later save takes it again)."""
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.release()

    def mismatch(self, table: QTable) -> str | None:
        """Why a snapshot does not belong to this bundle, or None if it does."""
        return snapshot_mismatch(table, self.discretizer, self.n_actions, self.bundle_sha256)

    def open(self, bundle_values: np.ndarray) -> tuple[QTable, str]:
        """The newest good matching snapshot and its path, else a fresh table and ``"bundle"``.

        Takes the state directory's lock first (``StateDirBusyError`` if another run holds it),
        and lets it go again if reading the directory fails.
        """
        self.lock()
        try:
            return self._resume(bundle_values)
        except BaseException:
            self.close()
            raise

    def _resume(self, bundle_values: np.ndarray) -> tuple[QTable, str]:
        state_dir = self.state_dir
        try:
            result = load_latest(state_dir)
        except NoSnapshotError as exc:
            _log.info("learning starts from the bundle's Q-table (%s)", exc)
            return self.fresh(bundle_values), "bundle"
        for path, reason in result.skipped:
            _log.warning("learning: skipped snapshot %s: %s", path.name, reason)
        why = self.mismatch(result.qtable)
        if why is not None:
            stale = self._move_aside()
            _log.warning(
                "learning: snapshot %s belongs to another bundle (%s); moved the snapshots to %s "
                "and starting from this bundle's Q-table",
                result.path.name,
                why,
                stale,
            )
            return self.fresh(bundle_values), "bundle"
        _log.info(
            "learning resumes from snapshot %s (%d updates; %d newer skipped)",
            result.path.name,
            int(result.qtable.meta.get("updates", 0)),
            len(result.skipped),
        )
        return result.qtable, str(result.path)

    def _move_aside(self) -> Path:
        """Move every snapshot and the best table to ``stale-<UTC time>/``; that directory."""
        state_dir = self.state_dir
        stale = state_dir / time.strftime("stale-%Y%m%dT%H%M%SZ", time.gmtime())
        stale.mkdir(parents=True, exist_ok=True)
        for path in list_snapshots(state_dir):
            path.rename(stale / path.name)
        if (state_dir / BEST_DIR).is_dir():
            (state_dir / BEST_DIR).rename(stale / BEST_DIR)
        return stale

    def fresh(self, values: np.ndarray) -> QTable:
        """A table with the bundle's values, no visits, and this bundle's sha256 in its meta."""
        return QTable(
            values.copy(),
            np.zeros(values.shape, np.int64),
            self.discretizer,
            {"bundle_qtable_sha256": self.bundle_sha256, "meta_version": META_VERSION},
        )

    def best(self) -> QTable | None:
        """The best window's table, if one was saved for this bundle."""
        try:
            best = load_latest(self.state_dir / BEST_DIR).qtable
        except NoSnapshotError:
            return None
        return best if self.mismatch(best) is None else None

    def save(self, table: QTable) -> Path:
        """Write ``table`` (its meta already current) as the newest snapshot; keeps ``keep``."""
        digest = state_digest(table.values, table.visits)
        updates = int(table.meta.get("updates", 0))
        self.lock()
        if self.on_save is not None:
            self.on_save("saving", updates, digest)
        path = save_snapshot(self.state_dir, table, self.keep)
        if self.on_save is not None:
            self.on_save("saved", updates, digest)
        return path

    def save_best(self, table: QTable) -> None:
        """Write ``table`` as the best window's (the one kept in ``state_dir/best``)."""
        self.lock()
        save_snapshot(self.state_dir / BEST_DIR, table, 1)


def learned_table(bundle: Any, state_dir: Path) -> tuple[QTable, Path]:
    """The newest good snapshot in ``state_dir``, learnt from ``bundle``'s Q-table, and its path.

    What ``[bundle] policy = "qtable-learned"`` drives. Raises ``NoSnapshotError`` when no
    snapshot's checksum holds, ``ValueError`` when the newest good one was learnt from another
    bundle (the learner moves such snapshots aside the next time it starts; this never moves
    anything).
    """
    from shared.bundle import sha256_file

    result = load_latest(state_dir)
    for path, reason in result.skipped:
        _log.warning("learned table: skipped snapshot %s: %s", path.name, reason)
    sha = sha256_file(bundle.file(bundle.qtable_file))
    why = snapshot_mismatch(result.qtable, bundle.discretizer, len(bundle.spec.actions), sha)
    if why is not None:
        raise ValueError(f"{result.path}: not learnt from this bundle: {why}")
    return result.qtable, result.path
