"""scripts/bench_sim's module: a tiny run trained with the preset, evaluated, reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import sim_quality as bench_sim

pytestmark = [pytest.mark.trainer, pytest.mark.slow]


def test_bench_sim_trains_evaluates_and_reports(tmp_path: Path) -> None:
    overrides = ["total_steps=2000", "learning_starts=500", "eval_every=0", "final_eval_episodes=1"]
    run = bench_sim.train(0, tmp_path / "run", overrides)
    out = tmp_path / "figures.json"
    code = bench_sim.main(["--run", str(run), "--episodes", "2", "--json", str(out)])
    (row,) = json.loads(out.read_text())
    assert code == (0 if row["passed"] else 1)
    assert row["episodes"] == 2 and 0 <= row["collision_free"] <= 2
    assert (
        0.0 <= row["mean_speed_m_s"] <= 1.5 * row["top_speed_m_s"]
    )  # no action outruns forward much
    assert row["train_wall_s"] > 0 and Path(row["learning_curve"]).is_file()
    assert Path(row["gif"]).is_file() and row["gif"].endswith("eval_last.gif")


def test_bench_sim_rejects_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        bench_sim.main(["--run", str(tmp_path), "--episodes", "1", "--no-gif"])
