"""Software in the loop for bundles without motor commands, end to end, against ``eval-bundle``.

Tiny real DQN runs of CartPole, Acrobot and MountainCar are exported; each bundle then runs
through ``python -m trainer sil run`` (a real child process: the robot's own loop, decider and
telemetry, its TFLite interpreter, on simulated time) with the example config of its env, and
its episodes must be ``eval-bundle``'s, episode for episode: the same reset seeds, returns and
lengths, and, tick for tick, the same actions as the bundle's policy takes in ``evaluate``.
The policies need not be good: the comparison is what is tested.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot.inference.policy import load_policy
from shared.bundle import Bundle
from trainer.evaluation import eval_seeds, evaluate
from trainer.export.bundle_eval import evaluate_bundle
from trainer.export.exporter import ExportOptions, export_run
from trainer.gymenv import make_env
from trainer.training import TrainingRun

pytestmark = [pytest.mark.trainer, pytest.mark.slow, pytest.mark.tflite]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "robot" / "examples"
#: env → (example config, env steps of training, episodes compared)
ENVS = {
    "CartPole-v1": ("cartpole_gym.toml", 3_000, 5),
    "Acrobot-v1": ("acrobot_gym.toml", 1_500, 2),
    "MountainCar-v0": ("mountaincar_gym.toml", 1_500, 2),
}
TINY = [
    "hidden_sizes=16",
    "n_envs=4",
    "learning_starts=400",
    "train_freq=8",
    "gradient_steps=2",
    "eval_every=0",
    "final_eval_episodes=1",
]


@pytest.fixture(scope="module", params=list(ENVS))
def bundle(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A real, tiny DQN run of the env, exported (float32)."""
    env_id: str = request.param
    runs = tmp_path_factory.mktemp("runs")
    training = TrainingRun.create(env_id, "dqn", 0, TINY, runs / "run", ENVS[env_id][1])
    try:
        assert training.run(progress=False)
    finally:
        training.close()
    return export_run(runs / "run", runs / "bundle", ExportOptions(parity_states=2_000)).bundle


def sil_run(bundle: Bundle, tmp_path: Path, *extra: str) -> tuple[dict[str, Any], list[int]]:
    """``python -m trainer sil run`` on the env's example config pointed at ``bundle``, with
    telemetry on: its summary and the action of every tick."""
    example, _, episodes = ENVS[bundle.spec.env_id]
    text = (EXAMPLES / example).read_text()
    text = text.replace('path = "../../bundles/', f"path = {json.dumps(str(bundle.path))} # ")
    text = text.replace("enabled = false", "enabled = true\npath = 'ticks.jsonl'")
    config = tmp_path / "robot.toml"
    config.write_text(text)
    summary = tmp_path / "summary.json"
    argv = ["sil", "run", "--config", str(config), "--episodes", str(episodes), *extra]
    env = {**os.environ, "SIM2PI_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        [sys.executable, "-m", "trainer", *argv, "--summary-json", str(summary)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ticks = [json.loads(line) for line in (tmp_path / "ticks.jsonl").read_text().splitlines()]
    return json.loads(summary.read_text()), [tick["action"] for tick in ticks]


def policy_actions(bundle: Bundle, episodes: int) -> list[int]:
    """The actions the bundle's float32 policy takes in ``evaluate`` on the evaluation seeds,
    through ``robot.inference`` as ``eval-bundle`` runs it."""
    policy = load_policy(bundle, "tflite")
    actions: list[int] = []

    def act(obs: Any) -> int:
        actions.append(policy.decide(np.atleast_1d(np.asarray(obs, np.float32))).action_index)
        return actions[-1]

    env = make_env(bundle.spec.env_id)
    try:
        evaluate(env, act, eval_seeds(episodes))
    finally:
        env.close()
    return actions


def test_sil_plays_eval_bundles_episodes(bundle: Bundle, tmp_path: Path) -> None:
    episodes = ENVS[bundle.spec.env_id][2]
    summary, actions = sil_run(bundle, tmp_path)
    expected = evaluate_bundle(bundle.path, episodes).results["tflite"]
    played = summary["episodes"]
    assert played["seeds"] == eval_seeds(episodes) == [1_000_000 + i for i in range(episodes)]
    assert played["returns"] == list(expected.returns)
    assert played["lengths"] == list(expected.lengths)
    assert played["unfinished"] is None
    assert summary["exit_reason"] == f"max_episodes ({episodes})"
    assert summary["ticks"] == summary["decisions"] == sum(expected.lengths)
    assert summary["errors"] == summary["overruns"] == 0 and "supervisor" not in summary
    assert actions == policy_actions(bundle, episodes)
