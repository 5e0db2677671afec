"""Which checkpoint is best and when a run is solved: confirmation, disjoint seeds, the stop."""

import csv
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

pytestmark = [pytest.mark.trainer]

pytest.importorskip("tensorflow")

from trainer.errors import UsageError  # noqa: E402
from trainer.evaluation import (  # noqa: E402
    confirmation_seeds,
    eval_seeds,
    evaluate,
    selection_seeds,
)
from trainer.hyperparams import build_config  # noqa: E402
from trainer.selection import judge, solved_return  # noqa: E402
from trainer.training import TrainingRun  # noqa: E402

#: CartPole with a solved return any policy reaches (an episode lasts at least ~8 steps), so that
#: a tiny run is "solved" at its first evaluation after the ε schedule, on every machine.
EASY = "sim2pi-test/CartPoleEasy-v0"


class BoundedCartPole(CartPoleEnv):
    """Gymnasium's CartPole with finite velocity bounds (a spec without trainer/specs.py)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        high = np.array([4.8, 3.0, 0.418, 3.5], dtype=np.float32)
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)


EASY_ENTRY = BoundedCartPole
if EASY not in gym.registry:
    gym.register(
        EASY,
        entry_point=EASY_ENTRY,
        max_episode_steps=500,
        reward_threshold=5.0,
    )


def balance(obs: np.ndarray) -> int:
    """A hand-written CartPole controller: push toward where the pole falls."""
    return int(obs[2] + 0.5 * obs[3] > 0)


def config(*overrides: str) -> object:
    return build_config("dqn", "CartPole-v1", list(overrides))


def test_selection_confirmation_and_evaluation_seeds_are_disjoint() -> None:
    sets = [set(selection_seeds(1000)), set(confirmation_seeds(1000)), set(eval_seeds(1000))]
    assert all(not a & b for i, a in enumerate(sets) for b in sets[i + 1 :])


def test_a_contender_plays_the_confirmation_and_its_score_is_the_mean_over_both() -> None:
    env = gym.make("CartPole-v1")
    cfg = config("eval_episodes=3", "confirm_episodes=4")
    verdict = judge(env, balance, cfg, best=None, bar=None)
    both = evaluate(env, balance, selection_seeds(3)).returns
    both += evaluate(env, balance, confirmation_seeds(4)).returns
    assert verdict.result.returns == both[:3]
    assert verdict.score == pytest.approx(float(np.mean(both)))
    assert verdict.new_best and not verdict.solved


def test_an_evaluation_below_the_best_is_not_confirmed_and_changes_nothing() -> None:
    env = gym.make("CartPole-v1")
    verdict = judge(env, lambda _: 0, config("eval_episodes=3"), best=400.0, bar=None)
    assert verdict.score is None and not verdict.new_best and not verdict.solved


def test_a_lucky_evaluation_cannot_win_when_the_confirmation_disagrees() -> None:
    """A policy that balances only on the selection seeds' episodes: its score is the mean of
    its 10 perfect selection episodes and its 20 poor confirmation ones, below the best."""
    env = gym.make("CartPole-v1")
    selection_starts = set()
    for seed in selection_seeds(10):
        obs, _ = env.reset(seed=seed)
        selection_starts.add(tuple(np.round(obs, 6)))
    state = {"lucky": False}

    def lucky(obs: np.ndarray) -> int:
        return balance(obs) if state["lucky"] else 0

    class Marks(gym.Wrapper):
        def reset(self, **kwargs):  # type: ignore[no-untyped-def]
            obs, info = self.env.reset(**kwargs)
            state["lucky"] = tuple(np.round(obs, 6)) in selection_starts
            return obs, info

    marked = Marks(gym.make("CartPole-v1"))
    verdict = judge(marked, lucky, config(), best=300.0, bar=None)
    assert verdict.result.mean == 500.0  # one lucky set of ten episodes
    assert verdict.score is not None and verdict.score < 300.0 and not verdict.new_best
    # without confirmation the same lucky evaluation would have become the best
    assert judge(marked, lucky, config("confirm_episodes=0"), best=300.0, bar=None).new_best


def test_solved_return_is_gymnasiums_and_refuses_what_cannot_work() -> None:
    assert solved_return("CartPole-v1", config("stop_on_solved=true")) == 475.0
    assert solved_return("CartPole-v1", config("stop_on_solved=false")) is None
    with pytest.raises(UsageError, match="confirm_episodes >= 1"):
        solved_return("CartPole-v1", config("stop_on_solved=true", "confirm_episodes=0"))
    if "sim2pi-test/NoThreshold-v0" not in gym.registry:
        gym.register("sim2pi-test/NoThreshold-v0", entry_point=EASY_ENTRY, max_episode_steps=50)
    with pytest.raises(UsageError, match="no solved return"):
        solved_return("sim2pi-test/NoThreshold-v0", config("stop_on_solved=true"))


TINY = [
    "total_steps=4000",
    "n_envs=2",
    "hidden_sizes=16,16",
    "learning_starts=200",
    "train_freq=16",
    "gradient_steps=1",
    "eval_every=1000",
    "eval_episodes=2",
    "confirm_episodes=2",
    "final_eval_episodes=2",
    "checkpoint_every=0",
]


def _train(out: Path, *overrides: str) -> TrainingRun:
    run = TrainingRun.create(EASY, "dqn", 0, [*TINY, *overrides], out)
    try:
        assert run.run(progress=False)
    finally:
        run.close()
    return run


def _metrics(path: Path) -> list[dict[str, str]]:
    with open(path / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_stop_on_solved_waits_for_the_end_of_exploration_then_ends_the_run(
    tmp_path: Path,
) -> None:
    run = _train(tmp_path / "run", "stop_on_solved=true", "eps_fraction=0.5")
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    rows = _metrics(tmp_path / "run")
    # the evaluation at 1,000 steps is before ε reaches its floor (2,000): it cannot end the run
    assert [r["step"] for r in rows] == ["1000", "2000"]
    assert summary["solved_step"] == 2000 == summary["steps"] == run.algorithm.step
    assert float(rows[-1]["confirmed_score"]) >= 5.0
    last = json.loads((tmp_path / "run/checkpoints/last/meta.json").read_text())
    assert last["step"] == 2000  # the final checkpoint is the solved policy
    resumed = TrainingRun.resume(tmp_path / "run")
    try:
        assert resumed.run(progress=False)  # a solved run is complete: nothing more to train
        assert resumed.algorithm.step == 2000
    finally:
        resumed.close()


def test_without_stop_on_solved_the_whole_budget_is_trained_and_best_is_confirmed(
    tmp_path: Path,
) -> None:
    run = _train(tmp_path / "run")
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    rows = _metrics(tmp_path / "run")
    assert summary["steps"] == 4000 and summary["solved_step"] is None
    best_row = next(r for r in rows if int(r["step"]) == run.state["best_step"])
    assert float(best_row["confirmed_score"]) == pytest.approx(run.state["best_mean"])
    config = json.loads((tmp_path / "run/config.json").read_text())
    assert config["eval_seeds"] == selection_seeds(2)
    assert config["confirm_seeds"] == confirmation_seeds(2)
    assert config["final_eval_seeds"] == eval_seeds(2)


def test_a_run_resumed_from_an_older_metrics_file_keeps_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "run"
    first = TrainingRun.create(EASY, "dqn", 0, TINY, path)
    try:
        first.run(until_step=2000, progress=False)
    finally:
        first.close()
    lines = (path / "metrics.csv").read_text().splitlines()
    old = [",".join(line.split(",")[:-1]) for line in lines]  # without confirmed_score
    (path / "metrics.csv").write_text("\n".join(old) + "\n")
    resumed = TrainingRun.resume(path)
    try:
        assert resumed.run(progress=False)
    finally:
        resumed.close()
    with open(path / "metrics.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert "confirmed_score" not in rows[0]
    assert {len(r) for r in rows} == {len(rows[0])}
