"""Ranking plays a checkpoint once when the best and the last hold the same numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trainer.sweep import ranking


def _checkpoint(run_dir: Path, which: str, table: np.ndarray) -> None:
    path = run_dir / "checkpoints" / which
    path.mkdir(parents=True)
    np.save(path / "qtable.npy", table)
    (path / "meta.json").write_text(json.dumps({"step": 100}))


def _played(run_dir: Path) -> tuple[dict, list[str]]:
    calls: list[str] = []

    def score(which: str) -> float:
        calls.append(which)
        return float(np.load(run_dir / "checkpoints" / which / "qtable.npy").sum())

    return ranking._each_checkpoint(run_dir, score), calls


def test_the_same_numbers_are_played_once_and_score_alike(tmp_path: Path) -> None:
    table = np.arange(12.0).reshape(4, 3)
    _checkpoint(tmp_path, "best", table)
    _checkpoint(tmp_path, "last", table.copy())
    scores, calls = _played(tmp_path)
    assert calls == ["best"]
    assert scores == {"best": 66.0, "last": 66.0}


def test_other_numbers_or_a_missing_checkpoint_are_played_each(tmp_path: Path) -> None:
    table = np.arange(12.0).reshape(4, 3)
    _checkpoint(tmp_path / "a", "best", table)
    _checkpoint(tmp_path / "a", "last", table + 1)
    scores, calls = _played(tmp_path / "a")
    assert calls == ["best", "last"]
    assert scores == {"best": 66.0, "last": 78.0}

    _checkpoint(tmp_path / "b", "last", table)  # no best (a run interrupted before evaluating)
    calls_b: list[str] = []
    ranking._each_checkpoint(tmp_path / "b", calls_b.append)
    assert calls_b == ["best", "last"]  # the score function answers for a missing one itself
