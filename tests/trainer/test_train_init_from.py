"""``python -m trainer train --init-from PATH``: a DQN run starts from a trained network.

The sources are real: the reference bundle's float32 TFLite model (read through LiteRT's own
interpreter, checked against the Q-values the manifest records) and a run directory written by
a real tiny training run. Each refusal is one line that names the file and the fix.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_trainer_cli import _trainer  # the same `python -m trainer` subprocess helper

from shared.bundle import read_bundle
from shared.reference_robot import ENV_ID
from trainer.errors import UsageError
from trainer.export.staging import policy_q_values
from trainer.init_from import load_initial_weights
from trainer.training import TrainingRun

pytestmark = pytest.mark.trainer

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "reference_bundles" / "obstacle_avoid"
#: A few hundred steps of the robot env, in 2 s episodes; no evaluation during training.
TINY = ["eval_every=0", "final_eval_episodes=2", "checkpoint_every=0", "learning_starts=64"]
SHORT = {"max_episode_s": 2}


@pytest.fixture(scope="module")
def from_bundle(tmp_path_factory: pytest.TempPathFactory) -> TrainingRun:
    path = tmp_path_factory.mktemp("init") / "run"
    training = TrainingRun.create(
        ENV_ID, "dqn", 3, TINY, path, 256, env_kwargs=SHORT, init_from=BUNDLE
    )
    yield training
    training.close()


def test_a_run_from_a_bundle_starts_with_the_bundles_network(from_bundle: TrainingRun) -> None:
    bundle = read_bundle(BUNDLE)
    raw = bundle.spec.observation.lows + np.random.default_rng(0).random((50, 3)) * (
        bundle.spec.observation.highs - bundle.spec.observation.lows
    )
    observations = bundle.spec.observation.normalize(raw)
    expected = policy_q_values(bundle, "float32", raw)  # the robot's own float32 policy
    learner = from_bundle.algorithm.learner
    for network in (learner.online, learner.target):
        q = np.asarray(network(observations.astype(np.float32)))
        np.testing.assert_allclose(q, expected, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(learner.policy(observations), expected, rtol=1e-4, atol=1e-3)
    record = json.loads((from_bundle.path / "config.json").read_text())["init_from"]
    manifest = json.loads((BUNDLE / "manifest.json").read_text())
    assert record == {
        "path": str(BUNDLE.resolve()),
        "kind": "bundle",
        "model": "policy.tflite",
        "sha256": manifest["files"]["policy.tflite"]["sha256"],
    }


def test_it_then_trains_and_a_run_directory_is_a_source_too(
    from_bundle: TrainingRun, tmp_path: Path
) -> None:
    before = [w.copy() for w in from_bundle.algorithm.learner.online.get_weights()]
    assert from_bundle.run(progress=False)
    after = from_bundle.algorithm.learner.online.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    # The finished run's last checkpoint starts the next run.
    spec = read_bundle(BUNDLE).spec
    loaded = load_initial_weights(from_bundle.path, spec, (64, 64), "relu")
    assert loaded.record["kind"] == "run"
    assert loaded.record["model"] == "checkpoints/last/model.keras"
    for a, b in zip(loaded.weights, after, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["activation=tanh"], "give the run the activation the bundle was trained with"),
        (
            ["hidden_sizes=32"],
            "layers 3 → 32 → 5, the network there has 3 → 64 → 64 → 5; give "
            "the run its layer sizes (--set hidden_sizes=64,64)",
        ),
    ],
)
def test_a_network_of_another_shape_is_refused(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        TrainingRun.create(
            ENV_ID, "dqn", 0, TINY + overrides, tmp_path / "run", 64, init_from=BUNDLE
        )
    assert not (tmp_path / "run").exists()  # refused before any file


def test_a_tampered_bundle_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(BUNDLE, copy)
    data = bytearray((copy / "policy.tflite").read_bytes())
    data[-100] ^= 0xFF
    (copy / "policy.tflite").write_bytes(bytes(data))
    with pytest.raises(UsageError, match=r"--init-from .*bundle: .*policy\.tflite"):
        TrainingRun.create(ENV_ID, "dqn", 0, TINY, tmp_path / "run", 64, init_from=copy)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--env", "CartPole-v1", "--algo", "dqn", "--init-from", str(BUNDLE)],
            "its observation differ from the run's (CartPole-v1)",
        ),
        (
            ["--env", ENV_ID, "--algo", "qlearning", "--init-from", str(BUNDLE)],
            "a qlearning run has no network to start from; use it with --algo dqn",
        ),
        (
            ["--env", ENV_ID, "--algo", "dqn", "--init-from", str(ROOT / "docs")],
            "expected a bundle (a directory with manifest.json) or a run directory",
        ),
        (
            ["--resume", str(ROOT / "docs"), "--init-from", str(BUNDLE)],
            "--resume continues the saved run as configured; drop --out, --init-from",
        ),
    ],
)
def test_the_cli_refuses_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = _trainer("train", *args, "--out", str(tmp_path / "run"))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "run").exists()
