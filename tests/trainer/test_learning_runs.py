"""Short real training runs prove learning: far above a random policy on tiny budgets."""

from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.trainer, pytest.mark.slow]

pytest.importorskip("tensorflow")

from trainer.evaluation import eval_seeds, evaluate  # noqa: E402
from trainer.rundir import RunDir  # noqa: E402
from trainer.training import TrainingRun  # noqa: E402


def _train(env_id: str, algo: str, overrides: list[str], out: Path) -> RunDir:
    run = TrainingRun.create(env_id, algo, 0, overrides, out)
    try:
        assert run.run(progress=False)
    finally:
        run.close()
    return RunDir(out)


def _random_mean(env_id: str, episodes: int) -> float:
    from trainer.gymenv import make_env

    env = make_env(env_id)
    rng = np.random.default_rng(0)
    result = evaluate(env, lambda _: int(rng.integers(env.action_space.n)), eval_seeds(episodes))
    return result.mean


def test_cartpole_dqn_beats_random_by_far_in_a_few_thousand_steps(tmp_path: Path) -> None:
    run = _train(
        "CartPole-v1",
        "dqn",
        [
            "total_steps=8000",
            "eps_fraction=0.4",
            "learning_rate_final=1e-3",
            "eval_every=2000",
            "eval_episodes=5",
            "final_eval_episodes=5",
        ],
        tmp_path / "run",
    )
    best = evaluate(run.make_env(), run.greedy_policy("best"), eval_seeds(5)).mean
    random = _random_mean("CartPole-v1", 20)  # ~22
    assert best >= 100 > 4 * random, (best, random)


def test_frozenlake_qlearning_learns(tmp_path: Path) -> None:
    run = _train(
        "FrozenLake-v1", "qlearning", ["total_steps=60000", "eval_every=0"], tmp_path / "run"
    )
    act = run.greedy_policy("best")
    returns = evaluate(run.make_env(), act, eval_seeds(200)).returns
    success = float(np.mean(np.asarray(returns) > 0))
    assert success >= 0.5, success  # a random policy succeeds ~1.5% of the time


def test_taxi_qlearning_learns(tmp_path: Path) -> None:
    run = _train("Taxi-v4", "qlearning", ["total_steps=60000", "eval_every=0"], tmp_path / "run")
    mean = evaluate(run.make_env(), run.greedy_policy("best"), eval_seeds(50)).mean
    assert mean >= 0.0, mean  # a random policy scores about -770
