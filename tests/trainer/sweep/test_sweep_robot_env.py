"""A sweep of the project's own env (sim2pi/ObstacleAvoid-v0): ranked, Ray's temp removed."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import trainer, write_spec

pytest.importorskip("ray")
pytestmark = [pytest.mark.trainer, pytest.mark.slow]

SPEC = """
env = "sim2pi/ObstacleAvoid-v0"
algo = "dqn"
steps = 200
seeds = [0]
rank_episodes = 2
"""


def test_a_sim2pi_env_sweep_ranks_and_removes_its_ray_temp_dir(tmp_path: Path) -> None:
    temp = Path(tempfile.mkdtemp(prefix="sw-", dir="/tmp"))  # short: Ray's socket paths fit
    out = tmp_path / "a-folder-long-enough-that-ray-sockets-need-a-temporary-directory"

    try:
        done = trainer("sweep", str(write_spec(tmp_path, SPEC)), "--out", str(out),
                       env={"TMPDIR": str(temp)})  # fmt: skip
        left = sorted(p.name for p in temp.iterdir())
    finally:
        shutil.rmtree(temp)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    (trial,) = json.loads((out / "results.json").read_text())["trials"]
    assert trial["status"] == "finished" and trial["score"] is not None
    session = Path((out / "ray_session.txt").read_text().strip())
    assert session.parent == temp and session.name.startswith("sim2pi-ray-")
    assert left == []
