"""Saves that fail while the robot learns (a full disk, a read-only remount): logged once per
spell, retried with back-off, never a crash; the final save that fails is one line saying what
was not kept, and the last good snapshot stays whole.

The failing disk is real: the state directory swapped for a regular file (every save's mkdir
fails with EEXIST), or a file size limit (RLIMIT_FSIZE: EFBIG on every snapshot, as a full disk
gives ENOSPC) in a real ``python -m robot run --learn``.
"""

from __future__ import annotations

import logging
import re
import resource
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot.config import LearningConfig
from robot.control.supervisor import CONTACT
from robot.learning import Learner
from robot.learning.saving import StateNotSavedError
from shared.discretize import Discretizer
from shared.qtable import list_snapshots, load_latest
from shared.reference_robot import obstacle_avoid_spec
from tests.robot.conftest import example, run_robot

ROOT = Path(__file__).resolve().parents[3]
SPEC = obstacle_avoid_spec()
GRID = Discretizer.uniform(SPEC.observation.lows, SPEC.observation.highs, 4)
SAVE_EVERY = 10


class Driver:
    """A learner stepped on synthetic observations; records each save it starts."""

    def __init__(self, state_dir: Path) -> None:
        self.started: list[int] = []
        settings = LearningConfig(state_dir=state_dir, save_every=SAVE_EVERY, rollback_window=1)
        values = np.zeros((GRID.n_states, len(SPEC.actions)))
        self.learner = Learner(SPEC, GRID, values, "e" * 64, settings, seed=0, on_save=self.on_save)
        self.rng = np.random.default_rng(0)

    def on_save(self, stage: str, updates: int, digest: str) -> None:
        if stage == "saving":
            self.started.append(updates)

    def until(self, updates: int) -> None:
        """Step until the learner has made ``updates`` updates."""
        while self.learner.stats.updates < updates:
            self.learner.decide(self.rng.uniform(0.3, 2.0, size=3), False, 0.0)

    def contact(self) -> None:
        """A collision ends the episode (with rollback_window = 1: the best window so far)."""
        self.learner.interrupted(np.array([0.02, 0.02, 0.02]), CONTACT)


def break_disk(state_dir: Path) -> Path:
    """Swap the state directory for a regular file; where the directory went."""
    moved = state_dir.with_name("moved-aside")
    state_dir.rename(moved)
    state_dir.write_text("a file where the state directory was\n")
    return moved


def mend_disk(state_dir: Path, moved: Path) -> None:
    state_dir.unlink()
    moved.rename(state_dir)


def saving_records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "robot.learning.saving" and r.levelno == level
    ]


def test_a_failing_disk_is_logged_once_retried_less_often_and_never_stops_learning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="robot.learning.saving")
    state_dir = tmp_path / "state"
    drive = Driver(state_dir)
    drive.until(25)
    assert drive.started == [10, 20]
    moved = break_disk(state_dir)
    # A collision at update 26: writing the best window's table is the first to fail.
    drive.contact()
    drive.until(400)
    # Then 10, 20, 40, 80 and 160 (the most: 16 x save_every) updates apart.
    assert drive.started == [10, 20, 36, 56, 96, 176, 336]
    errors = saving_records(caplog, logging.ERROR)
    assert len(errors) == 1, errors  # once for the spell
    assert f"cannot save in {state_dir} (ENOTDIR: Not a directory)" in errors[0]
    assert "drives and learns on in memory and retries in 10 updates" in errors[0]
    assert "kept on disk: snapshot qtable-00000002.snap (20 updates)" in errors[0]
    assert len(saving_records(caplog, logging.DEBUG)) == 5  # the retries: DEBUG only
    assert drive.learner.summary()["save_failures"] == 6
    mend_disk(state_dir, moved)
    drive.until(499)  # the next try, 160 updates after the last
    assert drive.started[-1] == 496
    assert load_latest(state_dir).qtable.meta["updates"] == 496
    (works,) = saving_records(caplog, logging.WARNING)
    assert "works again after 6 failed tries: qtable-00000003.snap (496 updates)" in works
    best = load_latest(state_dir / "best").qtable  # written with the first save that worked
    assert best.meta["updates"] == 26
    assert drive.started[-1] == 496  # healthy again: every save_every updates from here
    drive.until(510)
    assert drive.started[-2:] == [500, 510]


def test_a_final_save_that_fails_says_what_was_not_kept_and_tears_nothing(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    drive = Driver(state_dir)
    drive.until(23)
    kept = list_snapshots(state_dir)[-1]
    kept_bytes = kept.read_bytes()
    moved = break_disk(state_dir)
    drive.until(57)
    with pytest.raises(StateNotSavedError) as refused:
        drive.learner.close()
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"learning: the final state was not saved in {state_dir} (EEXIST")
    assert (
        "the 37 updates learnt since snapshot qtable-00000002.snap (20 updates) were not kept"
        in (message)
    )
    assert (
        "the next run resumes from it; free space there, or point [learning] state_dir" in message
    )
    mend_disk(state_dir, moved)
    assert kept.read_bytes() == kept_bytes and load_latest(state_dir).path == kept
    assert not list(state_dir.glob(".qtable-*.tmp"))  # no half-written snapshot
    assert drive.learner.close().name == "qtable-00000003.snap"  # the disk mended: it saves now


def limited_file_size() -> None:
    """In the child: no file may grow past 4 KiB (a snapshot is ~12 KiB: EFBIG, as a full disk
    refuses with ENOSPC). Python ignores SIGXFSZ, so the write fails instead of killing it."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))


def robot_run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``python -m robot run ARGS`` in a child process, to its end."""
    return run_robot("run", *args, timeout_s=120, **kwargs)


def test_run_learn_on_a_disk_that_refuses_every_snapshot_drives_on_then_says_what_was_lost(
    tmp_path: Path,
) -> None:
    config = example(tmp_path, "reference_sim.toml")
    args = ("--config", str(config), "--learn")
    first = robot_run(*args, "--max-ticks", "600")
    assert first.returncode == 0, first.stderr
    snapshots = {p: p.read_bytes() for p in list_snapshots(tmp_path / "learning")}
    kept = max(snapshots)
    result = robot_run(*args, "--max-ticks", "3000", preexec_fn=limited_file_size)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "first valid decision" in result.stderr and "max_ticks (3000)" in result.stderr
    assert "INFO robot: summary: " in result.stderr  # the run is reported, then what was lost
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 2, errors  # the spell's one line, and the final save's
    assert "cannot save in" in errors[0] and "(EFBIG: File too large)" in errors[0]
    assert errors[1].startswith("ERROR robot: learning: the final state was not saved in ")
    saved = int(load_latest(tmp_path / "learning").qtable.meta["updates"])
    lost = re.search(
        rf"the (\d+) updates learnt since snapshot {kept.name} \({saved} updates\)", errors[1]
    )
    assert lost is not None and 2900 < int(lost.group(1)) < 3000, errors[1]  # one per driven tick
    assert "were not kept, and the next run resumes from it" in errors[1]
    assert {p: p.read_bytes() for p in list_snapshots(tmp_path / "learning")} == snapshots
    assert not list((tmp_path / "learning").glob(".qtable-*.tmp"))
