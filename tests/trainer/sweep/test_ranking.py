"""The winner: a setting with a failed seed cannot win, however well its other seeds did."""

from __future__ import annotations

from pathlib import Path

from conftest import TINY, write_spec

from trainer.sweep import ranking, report
from trainer.sweep.spec import load_spec


def _result(setting: int, seed: int, score: float | None) -> ranking.TrialResult:
    status = "failed" if score is None else "finished"
    return ranking.TrialResult(
        name=f"t{setting:02d}__s{seed}", setting=setting, label=f"lr={setting}", seed=seed,
        status=status, error=None, run_dir=f"/runs/t{setting:02d}__s{seed}", steps=None,
        eval_best=None, eval_last=None, rank_best=score, rank_last=score, score=score,
        passed=None if score is None else score >= 475,
    )  # fmt: skip


def test_a_setting_that_failed_on_some_seeds_cannot_win(tmp_path: Path) -> None:
    results = [_result(0, 0, None), _result(0, 1, None), _result(0, 2, 500.0)]
    results += [_result(1, s, 499.0) for s in range(3)]
    settings = ranking.by_setting(results, 475.0)
    assert settings[0].mean == 500.0 and settings[0].failed == 2

    best, trial = ranking.winner(settings, results)

    assert best.setting == 1 and trial.setting == 1
    spec = load_spec(write_spec(tmp_path, TINY))
    assert "(2 failed: cannot win)" in report.table(spec, results, settings, 475.0, (best, trial))


def test_no_winner_when_every_setting_failed_somewhere() -> None:
    results = [_result(0, 0, None), _result(0, 1, 500.0)]
    assert ranking.winner(ranking.by_setting(results, None), results) is None
