"""An interrupted run, resumed, ends exactly where an uninterrupted one does (same seeds)."""

import pickle
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.trainer, pytest.mark.slow]

pytest.importorskip("tensorflow")

from trainer.metrics import read_csv  # noqa: E402
from trainer.rundir import RunDir  # noqa: E402
from trainer.training import TrainingRun  # noqa: E402

DQN_TINY = [
    "hidden_sizes=16",
    "n_envs=4",
    "learning_starts=400",
    "train_freq=8",
    "gradient_steps=2",
    "eval_every=1000",
    "eval_episodes=2",
    "final_eval_episodes=2",
    "checkpoint_every=0",
    "buffer_size=2000",
    "jit_compile=false",  # the XLA compile would dominate a run this short
]


def _train(path: Path, algo: str, env_id: str, overrides: list[str], stop_at: int | None) -> None:
    run = TrainingRun.create(env_id, algo, 7, overrides=overrides, out=path)
    try:
        done = run.run(until_step=stop_at, progress=False)
    finally:
        run.close()
    if stop_at is not None:
        assert not done
        run = TrainingRun.resume(path)
        assert run.algorithm.step >= stop_at
        try:
            assert run.run(progress=False)
        finally:
            run.close()


def _state(path: Path) -> dict:
    with open(path / "checkpoints" / "last" / "state.pkl", "rb") as f:
        return pickle.load(f)


def test_dqn_resume_equals_uninterrupted(tmp_path: Path) -> None:
    overrides = [*DQN_TINY, "total_steps=3000"]
    _train(tmp_path / "straight", "dqn", "CartPole-v1", overrides, None)
    _train(tmp_path / "resumed", "dqn", "CartPole-v1", overrides, 1_300)
    a, b = _state(tmp_path / "straight"), _state(tmp_path / "resumed")
    assert a["step"] == b["step"] == 3000
    for x, y in zip(a["learner"]["online"], b["learner"]["online"], strict=True):
        np.testing.assert_array_equal(x, y)  # exact: same ops, same order, same inputs
    for x, y in zip(a["learner"]["optimizer"], b["learner"]["optimizer"], strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a["buffer"]["obs"], b["buffer"]["obs"])
    evals = [
        [r["eval_mean"] for r in read_csv(tmp_path / name / "metrics.csv")]
        for name in ("straight", "resumed")
    ]
    assert evals[0] == evals[1]
    summary = RunDir(tmp_path / "resumed").summary
    assert summary["last"]["step"] == 3000


def test_qlearning_resume_equals_uninterrupted(tmp_path: Path) -> None:
    overrides = ["total_steps=6000", "eval_every=2000", "eval_episodes=5", "final_eval_episodes=5"]
    _train(tmp_path / "straight", "qlearning", "FrozenLake-v1", overrides, None)
    _train(tmp_path / "resumed", "qlearning", "FrozenLake-v1", overrides, 2_500)
    a = RunDir(tmp_path / "straight").load_qtable("last")
    b = RunDir(tmp_path / "resumed").load_qtable("last")
    np.testing.assert_array_equal(a, b)
    assert np.abs(a).sum() > 0
