"""SIGKILL the learner at random moments while its disk fails and mends at random (a file size
limit switched on and off: EFBIG, as a full disk gives ENOSPC): the learner never crashes on a
failed save, the state always loads and is a saved version, a save that failed is never what
loads, and each next learner takes the lock at once (a killed holder leaves no stale lock).

Complements ``test_learner_crash.py`` (the same kills on a healthy disk).
"""

from __future__ import annotations

import os
import resource
import signal
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from robot.config import LearningConfig
from robot.learning import Learner, state_digest
from shared.discretize import Discretizer
from shared.errors import NoSnapshotError
from shared.qtable import TEMP_PREFIX, TEMP_SUFFIX, load_latest
from shared.reference_robot import obstacle_avoid_spec

pytestmark = pytest.mark.slow

SPEC = obstacle_avoid_spec()
GRID = Discretizer.uniform(SPEC.observation.lows, SPEC.observation.highs, 12)  # ~140 KB saves
SAVE_EVERY = 5
KILLS = 150  # at least this many kills ...
MAX_KILLS = 900  # ... and more, up to this, until every kind of moment below has been hit
#: Each kind of moment the kills must have hit (a slower or busier machine takes more kills).
ENOUGH = {"start": 60, "failed": 20, "recovered": 5, "mid_save": 3}
SHA = "f" * 64
#: No file may grow past this while the disk "fails" (a snapshot is far larger).
FULL_BYTES = 4096
#: The chance, per update, that the disk fails or mends.
FLIP = 0.03


def child(state_dir: Path, write_fd: int, seed: int) -> None:
    """Learn as fast as it can; report saves, failed saves and the lock taken."""

    def report(stage: str, updates: int, digest: str = "-") -> None:
        os.write(write_fd, f"{stage} {updates} {digest}\n".encode())

    rng = np.random.default_rng(seed)
    settings = LearningConfig(state_dir=state_dir, save_every=SAVE_EVERY, keep=3)
    values = np.zeros((GRID.n_states, len(SPEC.actions)))
    learner = Learner(SPEC, GRID, values, SHA, settings, seed=seed, on_save=report)
    report("start", learner.stats.updates, learner.digest())
    failures, full = 0, bool(rng.random() < 0.5)
    disk_full(full)
    while True:
        if rng.random() < FLIP:
            full = not full
            disk_full(full)
        learner.decide(rng.uniform(0.06, 2.0, size=3), False, 0.0)
        if learner.saver.failures != failures:
            failures = learner.saver.failures
            report("failed", learner.stats.updates)


def disk_full(full: bool) -> None:
    """Let no file of this process grow past FULL_BYTES (writes fail: EFBIG), or lift that.

    Python ignores SIGXFSZ, so the write fails instead of the signal killing the process."""
    limit = FULL_BYTES if full else resource.RLIM_INFINITY
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


def loaded_version(state_dir: Path) -> tuple[int, str]:
    """(updates, digest) of the state a restart would load."""
    try:
        table = load_latest(state_dir).qtable
    except NoSnapshotError:
        zeros = np.zeros((GRID.n_states, len(SPEC.actions)))
        return 0, state_digest(zeros, zeros.astype(np.int64))
    return int(table.meta["updates"]), state_digest(table.values, table.visits)


def run_child(state_dir: Path, seed: int, alive_s: float) -> list[tuple[str, int, str]]:
    """Fork a learner, SIGKILL it after ``alive_s`` seconds; the events it reported."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        try:
            os.close(read_fd)
            child(state_dir, write_fd, seed)
        finally:
            os._exit(1)
    os.close(write_fd)
    time.sleep(alive_s)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    # Killed, not dead of its own accord: no failed save (nor a lock) ever raised out of it.
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    with os.fdopen(read_fd, "rb") as pipe:
        lines = pipe.read().decode().splitlines()
    return [(stage, int(u), d) for stage, u, d in (line.split() for line in lines)]


def test_sigkill_while_saves_fail_and_recover_never_loads_a_failed_or_torn_save(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    rng = np.random.default_rng(4321)
    started = time.monotonic()
    previous = loaded_version(state_dir)
    counts = {"start": 0, "failed": 0, "recovered": 0, "mid_save": 0}
    for kill in range(MAX_KILLS):
        if kill >= KILLS and all(counts[k] >= n for k, n in ENOUGH.items()):
            break
        events = run_child(state_dir, kill, float(rng.uniform(0.0, 0.06)))
        got = loaded_version(state_dir)
        if not events:  # killed before the learner had loaded: nothing changed
            assert got == previous, f"kill {kill}: loaded {got}, expected {previous}"
            continue
        counts["start"] += 1
        assert events[0] == ("start", *previous), f"kill {kill}: {events[0]} after {previous}"
        confirmed = [(u, d) for stage, u, d in events if stage in ("start", "saved")][-1]
        last_try = [e for e in events if e[0] in ("saving", "saved", "failed")]
        if last_try and last_try[-1][0] == "failed":  # the last save failed: never on disk
            assert got == confirmed, f"kill {kill}: loaded {got}, a failed save; {events[-4:]}"
        elif last_try and last_try[-1][0] == "saving":  # killed inside a save: either
            counts["mid_save"] += 1
            announced = last_try[-1][1:]
            assert got in (confirmed, announced), f"kill {kill}: loaded {got}, {events[-4:]}"
        else:
            assert got == confirmed, f"kill {kill}: loaded {got}, {events[-4:]}"
        ends = [stage for stage, _, _ in events if stage in ("saved", "failed")]
        counts["failed"] += ends.count("failed")
        counts["recovered"] += list(pairwise(ends)).count(("failed", "saved"))
        temps = list(state_dir.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"))
        assert len(temps) <= 1, temps  # at most the one a kill cut short; the next save removes it
        previous = got
    elapsed = time.monotonic() - started
    assert all(counts[k] >= n for k, n in ENOUGH.items()), f"{kill} kills hit too few: {counts}"
    assert previous[0] > 30 * SAVE_EVERY, "the children made too little progress to mean anything"
    print(f"{kill} kills: {counts}, {previous[0]} updates kept, {elapsed:.1f} s")
