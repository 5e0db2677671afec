"""When the learner saves, and what it does while its saves fail.

Healthy, a snapshot is written every ``save_every`` updates and at exit. A save that fails at run
time (a full disk, a read-only remount, an I/O error: any ``OSError``) never reaches the loop:

- the robot keeps driving and learning, in memory, on the table it has (the disk decides only
  what is kept, never how the robot drives);
- the failure is logged once per spell of failures: one ERROR with the directory, the reason and
  the last state that is kept; the retries are DEBUG lines;
- the save is retried after ``save_every`` updates, then 2, 4, 8 and at most ``MAX_BACKOFF``
  times that apart, until one succeeds: a WARNING then says so and how many tries failed;
- the best window's table (kept in memory for rollbacks) is written with the next save that
  succeeds.

Only the final save at exit raises, ``StateNotSavedError``: one line saying what was not kept.
A failed save never tears a snapshot (``shared.qtable.save_snapshot`` writes a temporary file
and renames it): the last good one stays as it was, and the next run resumes from it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from robot.config.learning import STATE_DIR_FIX
from robot.errors import RobotError
from robot.learning.snapshots import SnapshotStore
from shared.files import os_reason
from shared.qtable import QTable

_log = logging.getLogger(__name__)

#: The longest wait between two tries of a failing save, in multiples of ``save_every``.
MAX_BACKOFF = 16


class StateNotSavedError(RobotError, OSError):
    """The learner's final state could not be written: where, why, and what was not kept."""


class Saver:
    """Saves a learner's table on schedule; rides out a failing disk (see the module doc)."""

    def __init__(self, store: SnapshotStore, save_every: int, kept_updates: int, kept: str) -> None:
        """Save through ``store`` every ``save_every`` updates.

        ``kept_updates`` and ``kept``: the updates of the state on disk now, and where it is (a
        snapshot's path, or ``"bundle"``: the bundle's Q-table).
        """
        self.store = store
        self.save_every = save_every
        self.kept_updates = kept_updates
        #: What the next run would resume from, in words.
        self.kept = "the bundle's Q-table" if kept == "bundle" else f"snapshot {Path(kept).name}"
        #: Failed tries in a row (0: saving works).
        self.failing = 0
        #: Failed tries in all, this run.
        self.failures = 0
        self._retry_at: int | None = None  # while failing: the update count of the next try
        self._best: QTable | None = None  # the best window's table, not yet written

    def due(self, updates: int) -> bool:
        """Whether a save is due after ``updates`` updates."""
        if self._retry_at is not None:
            return updates >= self._retry_at
        return updates % self.save_every == 0

    def save(self, table: QTable) -> Path | None:
        """Write ``table`` (its meta current) now; its path, or None when that failed (logged
        once per spell, retried later)."""
        updates = int(table.meta.get("updates", 0))
        try:
            path = self.store.save(table)
        except OSError as exc:
            self._failed(exc, updates)
            return None
        if self.failing:
            _log.warning(
                "learning: saving in %s works again after %d failed tries: %s (%d updates)",
                self.store.state_dir,
                self.failing,
                path.name,
                updates,
            )
        self.failing, self._retry_at = 0, None
        self.kept_updates, self.kept = updates, f"snapshot {path.name}"
        if self._best is not None:
            self.save_best(self._best)
        return path

    def save_best(self, table: QTable) -> None:
        """Write the best window's ``table`` now, or with the next save that succeeds."""
        self._best = table
        if self.failing:
            return
        try:
            self.store.save_best(table)
        except OSError as exc:
            self._failed(exc, int(table.meta.get("updates", 0)))
            return
        self._best = None

    def final(self, table: QTable) -> Path:
        """Write ``table`` at exit; ``StateNotSavedError`` says what was not kept if it fails."""
        updates = int(table.meta.get("updates", 0))
        try:
            path = self.store.save(table)
        except OSError as exc:
            raise StateNotSavedError(
                f"learning: the final state was not saved in {self.store.state_dir} "
                f"({os_reason(exc)}): the {updates - self.kept_updates} updates learnt since "
                f"{self.kept} ({self.kept_updates} updates) were not kept, and the next run "
                f"resumes from it; free space there, or {STATE_DIR_FIX}"
            ) from None
        self.failing, self._retry_at = 0, None
        self.kept_updates, self.kept = updates, f"snapshot {path.name}"
        if self._best is not None:
            try:
                self.store.save_best(self._best)
            except OSError as exc:  # the learnt state is kept; only the rollback target is old
                _log.error(
                    "learning: the best window's table was not saved in %s (%s); the next run "
                    "rolls back to the older one, if any",
                    self.store.state_dir / "best",
                    os_reason(exc),
                )
        return path

    def _failed(self, exc: OSError, updates: int) -> None:
        """Count a failed try, schedule the next one, and log the first of a spell."""
        self.failing += 1
        self.failures += 1
        wait = self.save_every * min(2 ** (self.failing - 1), MAX_BACKOFF)
        self._retry_at = updates + wait
        log = _log.error if self.failing == 1 else _log.debug
        log(
            "learning: cannot save in %s (%s); the robot drives and learns on in memory and "
            "retries in %d updates, then less often; kept on disk: %s (%d updates)%s",
            self.store.state_dir,
            os_reason(exc),
            wait,
            self.kept,
            self.kept_updates,
            "" if self.failing == 1 else f" [try {self.failing}]",
        )
