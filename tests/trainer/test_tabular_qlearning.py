"""Tabular Q-learning: the update rule (terminal vs truncated), the state grid, exact resume."""

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.trainer

pytest.importorskip("gymnasium")

from trainer.errors import HyperparameterError  # noqa: E402
from trainer.gymenv import make_env  # noqa: E402
from trainer.hyperparams import QLearningConfig  # noqa: E402
from trainer.qlearning import QLearning, make_discretizer, q_update  # noqa: E402
from trainer.specs import task_spec_for  # noqa: E402


def _table() -> np.ndarray:
    table = np.zeros((3, 2))
    table[2] = [4.0, 10.0]  # the next state's best value is 10
    table[0, 1] = 2.0
    return table


def test_update_bootstraps_when_not_terminated() -> None:
    table = _table()
    error = q_update(table, 0, 1, 1.0, 2, terminated=False, alpha=0.5, gamma=0.9)
    assert error == pytest.approx(1.0 + 0.9 * 10.0 - 2.0)
    assert table[0, 1] == pytest.approx(2.0 + 0.5 * 8.0)


def test_update_does_not_bootstrap_a_terminal_state() -> None:
    table = _table()
    q_update(table, 0, 1, 1.0, 2, terminated=True, alpha=0.5, gamma=0.9)
    assert table[0, 1] == pytest.approx(2.0 + 0.5 * (1.0 - 2.0))


def test_truncation_during_training_still_bootstraps() -> None:
    """A time limit (truncated, not terminated) must keep the next state's value in the target."""
    spec = task_spec_for("FrozenLake-v1", make_env("FrozenLake-v1"))
    config = QLearningConfig(total_steps=10_000, eps_start=1.0, eps_end=1.0, initial_q=1.0)
    learner = QLearning("FrozenLake-v1", spec, config, seed=0)
    learner.env.close()
    learner.env = make_env("FrozenLake-v1", max_episode_steps=3, is_slippery=False)
    learner.env.reset(seed=0)
    # FrozenLake's holes and goal end episodes with terminated=True; a 3-step limit truncates.
    # With optimistic Q=1 and zero rewards, truncated updates keep 0.99·1 in the target, while a
    # terminated one into a hole drops to 0.
    learner.advance(3_000)
    hole_next = learner.table.min()
    assert hole_next < 0.5  # some (state, action) pairs that fell into a hole decayed to ~0
    assert learner.table.max() > 0.9  # truncated and ordinary steps kept their value


def test_discrete_observation_gets_one_bin_per_state() -> None:
    spec = task_spec_for("Taxi-v4", make_env("Taxi-v4"))
    grid = make_discretizer(spec, QLearningConfig())
    assert grid.n_states == 500
    assert [grid.index([s]) for s in (0, 1, 250, 499)] == [0, 1, 250, 499]


def test_continuous_observation_needs_bins_per_channel() -> None:
    spec = task_spec_for("CartPole-v1", make_env("CartPole-v1"))
    with pytest.raises(HyperparameterError, match="bins: expected 4"):
        make_discretizer(spec, QLearningConfig(bins=(3, 3)))
    grid = make_discretizer(spec, QLearningConfig(bins=(1, 1, 6, 3)))
    assert grid.n_states == 18


def test_save_and_load_resume_exactly(tmp_path: Path) -> None:
    spec = task_spec_for("FrozenLake-v1", make_env("FrozenLake-v1"))
    config = QLearningConfig(total_steps=4_000)
    straight = QLearning("FrozenLake-v1", spec, config, seed=3)
    straight.advance(4_000)
    first = QLearning("FrozenLake-v1", spec, config, seed=3)
    first.advance(1_500)
    first.save(tmp_path)
    resumed = QLearning("FrozenLake-v1", spec, config, seed=3)
    resumed.load(tmp_path)
    resumed.advance(4_000)
    np.testing.assert_array_equal(resumed.table, straight.table)
    np.testing.assert_array_equal(resumed.visits, straight.visits)
    assert resumed.episodes == straight.episodes
