"""Ctrl-C of a real ``python -m trainer sweep``, then ``--resume``: finished trials are kept."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, TINY, trainer, trainer_env, write_spec

pytest.importorskip("ray")
pytestmark = [pytest.mark.trainer, pytest.mark.slow]

#: Three seeds one at a time; 6,000 steps with a checkpoint every 1,000 so that an interrupted
#: trial has something to resume from.
SPEC = TINY.replace("steps = 2000", "steps = 6000") + (
    "seeds = [0, 1, 2]\n[grid]\ncheckpoint_every = [1000]\n"
)


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _commands(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith("$ python -m")]


def test_ctrl_c_keeps_finished_trials_and_resume_finishes_the_rest(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC)
    out = tmp_path / "out"
    trials = out / "trials"
    sweep = subprocess.Popen(
        [sys.executable, "-m", "trainer", "sweep", str(spec), "--out", str(out),
         "--max-concurrent", "1"],
        cwd=ROOT, env=trainer_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for((trials / "t00__s0" / "summary.json").is_file, 200, "trial 0")
        second = trials / "t00__s1" / "checkpoints" / "last"
        _wait_for(second.is_dir, 120, "a checkpoint of trial 1")
        sweep.send_signal(signal.SIGINT)
        stdout, stderr = sweep.communicate(timeout=120)
    finally:
        sweep.kill()
    assert sweep.returncode == 130, stderr
    assert "Traceback" not in stdout + stderr
    assert f"--out {out} --resume" in stdout
    finished = (trials / "t00__s0" / "summary.json").stat().st_mtime_ns
    assert not (trials / "t00__s1" / "summary.json").exists()
    rows = {r["name"]: r for r in json.loads((out / "results.json").read_text())["trials"]}
    assert rows["t00__s0"]["status"] == "finished"
    assert {rows["t00__s1"]["status"], rows["t00__s2"]["status"]} == {"interrupted"}

    resumed = trainer("sweep", str(spec), "--out", str(out), "--resume")

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "(already trained)" in resumed.stdout
    assert (trials / "t00__s0" / "summary.json").stat().st_mtime_ns == finished
    assert len(_commands(out / "logs" / "t00__s0.log")) == 1  # trained once
    second_log = _commands(out / "logs" / "t00__s1.log")
    assert second_log[-1] == f"$ python -m trainer train --resume {trials / 't00__s1'} --quiet"
    for name in ("t00__s0", "t00__s1", "t00__s2"):
        assert json.loads((trials / name / "summary.json").read_text())["steps"] == 6000 or (
            json.loads((trials / name / "summary.json").read_text())["solved_step"] is not None
        )
    rows = {r["name"]: r for r in json.loads((out / "results.json").read_text())["trials"]}
    assert {r["status"] for r in rows.values()} == {"finished"}


#: A Q-table trial of 300 steps ranked on 20,000 episodes: seconds of ranking to press Ctrl-C in.
SLOW_RANKING = 'preset = "CartPole-v1:qlearning"\nsteps = 300\nseeds = [0]\nrank_episodes = 20000\n'


@pytest.mark.parametrize("fork", ["1", "0"], ids=["ranked-in-the-trial", "ranked-by-a-ray-task"])
def test_ctrl_c_while_ranking_keeps_the_trials_and_resume_ranks_them(
    tmp_path: Path, fork: str
) -> None:
    # Forked from a warm server, a trial ranks itself once trained; started as a new process
    # (SIM2PI_SWEEP_FORK=0, the path of platforms without fork) a Ray task ranks it after Tune.
    spec = write_spec(tmp_path, SLOW_RANKING)
    out = tmp_path / "out"
    sweep = subprocess.Popen(
        [sys.executable, "-m", "trainer", "sweep", str(spec), "--out", str(out)],
        cwd=ROOT, env={**trainer_env(), "SIM2PI_SWEEP_FORK": fork},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        if fork == "1":  # the trial has trained and ranks itself: Ctrl-C stops that
            _wait_for((out / "trials" / "t00__s0" / "summary.json").is_file, 200, "training")
        else:
            for line in sweep.stdout:  # the ranking task starts: Ctrl-C cancels it
                if line.startswith("1 trials to rank: one Ray task"):
                    break
        time.sleep(1.0)
        sweep.send_signal(signal.SIGINT)
        for line in sweep.stdout:  # the driver ranks the trial itself: Ctrl-C again
            if line.startswith("ranking "):
                break
        time.sleep(1.0)
        sweep.send_signal(signal.SIGINT)
        stdout, stderr = sweep.communicate(timeout=120)
    finally:
        sweep.kill()
    assert sweep.returncode == 130, stderr
    assert "Traceback" not in stdout + stderr
    assert (out / "trials" / "t00__s0" / "summary.json").is_file()
    if f"rank them with: python -m trainer sweep {spec} --out {out} --resume" in stdout:
        # The second Ctrl-C cut the driver's ranking short: nothing ranked is kept.
        assert not (out / "results.json").exists()
    else:  # on a loaded machine the ranking can end before the second Ctrl-C lands
        assert f"interrupted; finish with: python -m trainer sweep {spec} --out {out}" in stdout

    resumed = trainer("sweep", str(spec), "--out", str(out), "--resume")

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "(already trained)" in resumed.stdout
    (trial,) = json.loads((out / "results.json").read_text())["trials"]
    assert trial["status"] == "finished" and trial["score"] is not None
