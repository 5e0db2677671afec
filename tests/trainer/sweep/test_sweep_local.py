"""A real sweep on local Ray: trial directories are normal runs, results ranked and written."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
from conftest import TINY, trainer, write_spec

from trainer.rundir import weights_digest
from trainer.sweep import ranked, ranking
from trainer.sweep.ranked import RankParams
from trainer.sweep.spec import load_spec

pytest.importorskip("ray")
pytestmark = [pytest.mark.trainer, pytest.mark.slow]

#: Two good learning rates and one the trainer rejects, over two seeds: six trials.
SPEC = TINY + "seeds = [0, 1]\n[grid]\nlearning_rate = [1e-3, 2.3e-3, -1.0]\n"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """The finished sweep's directory and its command's result."""
    tmp = tmp_path_factory.mktemp("sweep")
    spec = write_spec(tmp, SPEC)
    done = trainer(
        "sweep", str(spec), "--out", str(tmp / "out"), "--export-best", str(tmp / "bundle")
    )
    return tmp, done


def test_a_failing_trial_is_reported_and_the_others_finish(sweep) -> None:
    tmp, done = sweep
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    out = tmp / "out"
    with open(out / "results.csv", newline="") as handle:
        rows = {r["name"]: r for r in csv.DictReader(handle)}
    assert sorted(rows) == ["t00__s0", "t00__s1", "t01__s0", "t01__s1", "t02__s0", "t02__s1"]
    for name in ("t02__s0", "t02__s1"):
        assert rows[name]["status"] == "failed"
        assert "learning_rate=-1.0: expected a value in" in rows[name]["error"]
        assert f"{name}" in done.stdout and "error: python -m trainer train: error:" in done.stdout
    for name in ("t00__s0", "t00__s1", "t01__s0", "t01__s1"):
        assert rows[name]["status"] == "finished" and rows[name]["steps"] == "2000"
        assert (out / "trials" / name / "summary.json").is_file()
    assert "2 of 6 trials failed: t02__s0, t02__s1" in done.stdout


def test_results_rank_every_setting_on_fresh_seeds(sweep) -> None:
    tmp, done = sweep
    data = json.loads((tmp / "out" / "results.json").read_text())
    assert data["ranking_seed_base"] == 4_000_000 and data["bar"] == 475.0
    by_setting = {s["setting"]: s for s in data["settings"]}
    scores = {t["name"]: t["score"] for t in data["trials"]}
    for index, prefix in ((0, "t00"), (1, "t01")):
        mine = [scores[f"{prefix}__s0"], scores[f"{prefix}__s1"]]
        assert by_setting[index]["mean"] == pytest.approx(sum(mine) / 2)
        assert by_setting[index]["min"] == min(mine) and by_setting[index]["scored"] == 2
        assert f"{by_setting[index]['mean']:8.1f}" in done.stdout
    assert by_setting[2]["mean"] is None and by_setting[2]["failed"] == 2
    winner = data["winner"]["setting"]["setting"]
    assert winner == max((0, 1), key=lambda i: by_setting[i]["mean"])
    assert (tmp / "out" / "results.png").stat().st_size > 5_000
    assert "ranked on 5 episodes from seed 4000000" in done.stdout


def test_a_trial_is_a_normal_run_identical_to_trainer_train(sweep) -> None:
    tmp, _ = sweep
    trial = tmp / "out" / "trials" / "t00__s1"
    evaluated = trainer("eval", str(trial), "--episodes", "2")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "over 2 episodes" in evaluated.stdout
    plain = tmp / "plain"
    trained = trainer(
        "train", "--env", "CartPole-v1", "--algo", "dqn", "--seed", "1", "--steps", "2000",
        "--set", "learning_rate=0.001", "--out", str(plain), "--quiet",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    for which in ("checkpoints/last", "checkpoints/best"):
        assert weights_digest(trial / which) == weights_digest(plain / which), which
    summaries = [json.loads((p / "summary.json").read_text()) for p in (trial, plain)]
    assert summaries[0]["last"]["eval"] == summaries[1]["last"]["eval"]


def test_export_best_records_the_sweep_in_the_manifest(sweep) -> None:
    tmp, done = sweep
    data = json.loads((tmp / "out" / "results.json").read_text())
    manifest = json.loads((tmp / "bundle" / "manifest.json").read_text())
    record = manifest["training"]["config"]["sweep"]
    assert record["chosen"] is True and record["trial"] == data["winner"]["trial"]
    assert record["ranking_seed_base"] == 4_000_000
    assert record["setting_mean"] == data["winner"]["setting"]["mean"]
    assert f"exported {record['trial']} to" in done.stdout


def test_an_existing_sweep_directory_is_refused_without_resume(sweep) -> None:
    tmp, _ = sweep
    again = trainer("sweep", str(tmp / "spec.toml"), "--out", str(tmp / "out"))
    assert again.returncode == 2
    assert again.stderr.strip().endswith(f"--out {tmp / 'out'} --resume")
    assert len(again.stderr.strip().splitlines()) == 1


def test_the_trials_rank_themselves_as_the_driver_would(sweep) -> None:
    tmp, done = sweep
    out = tmp / "out"
    spec = load_spec(tmp / "spec.toml")
    rows = {r["name"]: r for r in json.loads((out / "results.json").read_text())["trials"]}
    for name in ("t00__s0", "t00__s1", "t01__s0", "t01__s1"):
        run_dir = out / "trials" / name
        assert (run_dir / ranked.RANKING_FILE).is_file(), name  # ranked in the trial
        again = ranking.trial_scores(RankParams.of(spec), run_dir)  # sequentially, here
        assert (rows[name]["rank_best"], rows[name]["rank_last"]) == (
            again["rank_best"],
            again["rank_last"],
        )
    assert not (out / "trials" / "t02__s0" / ranked.RANKING_FILE).exists()  # failed
    # Each trial ranked itself once trained, forked from its worker's warm server: no Ray task
    # and no ranking in the driver was left to do.
    assert "trials to rank: one Ray task" not in done.stdout
    assert "ranking " not in done.stdout
