"""A trial ranked by a Ray task (its scores kept in ``ranking.json``) gives the very results the
driver computes, and its kept scores are not used once they no longer match the run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import TINY, trainer, write_spec

from trainer.sweep import ranked, ranking
from trainer.sweep.rank_tasks import rank_task, to_rank
from trainer.sweep.ranked import RankParams
from trainer.sweep.spec import load_spec
from trainer.sweep.trials import trials
from trainer.sweep.tune_run import TrialRun

pytestmark = [pytest.mark.trainer, pytest.mark.slow]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A spec of one tiny CartPole trial and that trial trained by ``trainer train``."""
    tmp = tmp_path_factory.mktemp("ranked")
    spec = write_spec(tmp, TINY + "seeds = [3]\n")
    run_dir = tmp / "trials" / "t00__s3"
    done = trainer(
        "train", "--env", "CartPole-v1", "--algo", "dqn", "--seed", "3", "--steps", "2000",
        "--out", str(run_dir), "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return spec, run_dir


def test_a_ranking_task_gives_the_drivers_results(trained) -> None:
    spec_path, run_dir = trained
    spec = load_spec(spec_path)
    outcome = TrialRun(trials(spec)[0], run_dir, "finished", None)
    (run_dir / ranked.RANKING_FILE).unlink(missing_ok=True)
    computed = ranking.rank_trial(spec, outcome, 475.0)  # the driver, sequentially

    rank_task(str(run_dir), RankParams.of(spec).as_dict())  # what each Ray task runs
    kept = ranked.load(run_dir, RankParams.of(spec))

    assert kept is not None and kept["rank_best"] == computed.rank_best
    assert to_rank(RankParams.of(spec), [run_dir]) == []  # kept: no task for it next time
    assert ranking.rank_trial(spec, outcome, 475.0) == computed
    assert computed.score is not None


def test_kept_scores_are_used_only_while_they_match(trained) -> None:
    spec_path, run_dir = trained
    params = RankParams.of(load_spec(spec_path))
    ranked.save(run_dir, params, {"rank_best": 1.0, "rank_last": 2.0})
    assert ranked.load(run_dir, params) == {"rank_best": 1.0, "rank_last": 2.0}
    other = RankParams(params.env_id, params.rank_episodes + 1, params.rank_checkpoint, None)
    assert ranked.load(run_dir, other) is None
    copy = run_dir.parent / "copy"
    shutil.copytree(run_dir, copy)
    meta = copy / "checkpoints" / "last" / "meta.json"
    meta.write_text(meta.read_text() + " ")
    assert ranked.load(copy, params) is None  # other checkpoints: ranked again
    (copy / ranked.RANKING_FILE).write_text("{")
    assert ranked.load(copy, params) is None
    (run_dir / ranked.RANKING_FILE).unlink()
