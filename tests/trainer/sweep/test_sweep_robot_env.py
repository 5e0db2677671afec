"""A sweep of the project's own env (sim2pi/ObstacleAvoid-v0): ranked on the arena suite, with
the trials' robot profile under each arena, and Ray's temporary directory removed."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import trainer, write_spec

from shared.arena_suite import SUITE, parse_arena
from trainer.evaluation import evaluate
from trainer.gymenv import make_env
from trainer.robot_profile import EXAMPLE
from trainer.rundir import RunDir
from trainer.sweep.arenas import arena_env_kwargs

pytest.importorskip("ray")
pytestmark = [pytest.mark.trainer, pytest.mark.slow]

#: Two trials of the angled robot (the shipped profile), 10-s episodes, one episode per arena.
SPEC = f"""
env = "sim2pi/ObstacleAvoid-v0"
algo = "dqn"
steps = 2000
seeds = [0, 1]
rank_arena_episodes = 1
robot_profiles = ["{EXAMPLE}"]

[grid]
eval_episodes = [2]
final_eval_episodes = [2]

[[env_args]]
max_episode_s = 10.0
"""


@pytest.fixture(scope="module")
def sweep(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str], list[str], Path]:
    """The sweep's directory, its command's result, what it left in TMPDIR, and TMPDIR."""
    tmp = tmp_path_factory.mktemp("robot-sweep")
    temp = Path(tempfile.mkdtemp(prefix="sw-", dir="/tmp"))  # short: Ray's socket paths fit
    out = tmp / "a-folder-long-enough-that-ray-sockets-need-a-temporary-directory"
    try:
        done = trainer("sweep", str(write_spec(tmp, SPEC)), "--out", str(out),
                       env={"TMPDIR": str(temp)})  # fmt: skip
        left = sorted(p.name for p in temp.iterdir())
    finally:
        shutil.rmtree(temp)
    return out, done, left, temp


def test_a_sim2pi_env_sweep_ranks_and_removes_its_ray_temp_dir(sweep) -> None:
    out, done, left, temp = sweep
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    trials = json.loads((out / "results.json").read_text())["trials"]
    assert [t["status"] for t in trials] == ["finished", "finished"]
    assert all(t["score"] is not None for t in trials)
    session = Path((out / "ray_session.txt").read_text().strip())
    assert session.parent == temp and session.name.startswith("sim2pi-ray-")
    assert left == []


def test_each_checkpoint_played_every_arena_over_its_own_robot(sweep) -> None:
    out = sweep[0]
    data = json.loads((out / "results.json").read_text())
    names = [arena.name for arena in SUITE]
    assert data["arena_suite"] == {"arenas": names, "episodes_per_arena": 1}
    assert (data["ranking_seed_base"], data["rank_episodes"]) == (5_000_000, 10)
    for trial in data["trials"]:
        base = RunDir(Path(trial["run_dir"])).config["env_kwargs"]
        assert base["motor_gain"] == 0.6 and base["arena_size_range_m"] == [3.0, 6.0]
        for which in ("best", "last"):
            played = trial["arenas"][which]
            assert [a["arena"] for a in played] == names
            for arena, entry in zip(SUITE, played, strict=True):
                assert entry["env_kwargs"] == json.loads(json.dumps(arena_env_kwargs(base, arena)))
                assert entry["seeds"] == [5_000_000] and len(entry["returns"]) == 1
                assert 1 <= entry["lengths"][0] <= 200  # the trial's own 10-s episodes
                assert entry["mean"] == entry["returns"][0]
        rough = trial["arenas"]["best"][names.index("3m/11 rough")]["env_kwargs"]
        assert (rough["arena_size_m"], rough["obstacles"], rough["max_episode_s"]) == (3, 11, 10)
        assert rough["motor_gain"] == pytest.approx(0.48) and "arena_size_range_m" not in rough
        best = trial["arenas"]["best"]
        returns = [r for entry in best for r in entry["returns"]]
        assert trial["score"] == trial["rank_best"] == pytest.approx(np.mean(returns))
        worst = min(best, key=lambda entry: entry["mean"])
        assert (trial["rank_worst"], trial["worst_arena"]) == (worst["mean"], worst["arena"])


def test_an_arena_episode_replays_from_what_the_results_record(sweep) -> None:
    out = sweep[0]
    trial = json.loads((out / "results.json").read_text())["trials"][1]
    entry = trial["arenas"]["last"][SUITE.index(parse_arena("3m/11 rough"))]
    run = RunDir(Path(trial["run_dir"]))
    env = make_env(run.env_id, **entry["env_kwargs"])
    try:
        replayed = evaluate(env, run.greedy_policy("last"), entry["seeds"])
        assert env.unwrapped.world.arena.width_m == 3.0
    finally:
        env.close()
    assert list(replayed.returns) == entry["returns"]


def test_the_table_csv_and_each_trials_sweep_record_name_the_suite(sweep) -> None:
    out, done = sweep[0], sweep[1]
    assert "ranked on the arena suite: 10 arenas x 1 episodes from seed 5000000" in done.stdout
    assert "worst arena" in done.stdout
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {"rank_worst", "worst_arena"} <= set(rows[0]) and "arenas" not in rows[0]
    assert {row["worst_arena"] for row in rows} <= {arena.name for arena in SUITE}
    for row in rows:
        record = RunDir(Path(row["run_dir"])).config["sweep"]
        assert record["ranking_seed_base"] == 5_000_000 and record["rank_episodes"] == 10
        assert record["arenas"] == [arena.name for arena in SUITE]
        assert record["rank_arena_episodes"] == 1
