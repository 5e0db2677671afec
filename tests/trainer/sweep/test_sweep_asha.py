"""``scheduler = "asha"``: Tune's ASHA stops lagging trials; they are ranked like the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY, trainer, write_spec

pytest.importorskip("ray")
pytestmark = [pytest.mark.trainer, pytest.mark.slow]

#: Four seeds of 8,000 steps evaluated every 1,000; rungs at 1,000, 2,000, 4,000 and 8,000 steps
#: keep the better half, so at most the best trials reach the end.
SPEC = TINY.replace("steps = 2000", "steps = 8000") + (
    'seeds = [0, 1, 2, 3]\nscheduler = "asha"\n[asha]\ngrace_steps = 1000\n'
    "[grid]\neval_every = [1000]\nstop_on_solved = [false]\n"
)


def test_asha_stops_the_lagging_trials_and_ranks_every_one(tmp_path: Path) -> None:
    out = tmp_path / "out"

    done = trainer("sweep", str(write_spec(tmp_path, SPEC)), "--out", str(out))

    assert done.returncode == 0, done.stdout + done.stderr
    trials = json.loads((out / "results.json").read_text())["trials"]
    statuses = [t["status"] for t in trials]
    assert "stopped" in statuses and "finished" in statuses, statuses
    assert "stopped early (ASHA)" in done.stdout
    for trial in trials:
        assert trial["score"] is not None  # every trial evaluated at least once: ranked
        run = out / "trials" / trial["name"]
        assert (run / "summary.json").is_file() == (trial["status"] == "finished")
        assert (run / "checkpoints" / "best" / "meta.json").is_file()
    stopped = sorted(t["name"] for t in trials if t["status"] == "stopped")
    assert sorted(p.name for p in (out / "asha_stopped").iterdir()) == stopped

    resumed = trainer("sweep", str(tmp_path / "spec.toml"), "--out", str(out), "--resume")

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    again = {
        t["name"]: t["status"] for t in json.loads((out / "results.json").read_text())["trials"]
    }
    assert again == {t["name"]: t["status"] for t in trials}  # the stopped ones stay stopped
    for name in stopped:  # and were not trained again
        log = (out / "logs" / f"{name}.log").read_text().splitlines()
        assert sum(line.startswith("$ python -m trainer") for line in log) == 1, name
