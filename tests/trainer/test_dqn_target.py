"""The Double-DQN target, the packed batches, the numpy acting copy and the learner's state."""

import numpy as np
import pytest

pytestmark = pytest.mark.trainer

tf = pytest.importorskip("tensorflow")

from trainer.dqn import DQNLearner, pack, td_targets, unpack  # noqa: E402
from trainer.hyperparams import DQNConfig  # noqa: E402
from trainer.qnetwork import NumpyMLP  # noqa: E402

NEXT_ONLINE = np.array([[1.0, 5.0, 2.0], [4.0, 0.0, 3.0]], dtype=np.float32)
NEXT_TARGET = np.array([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]], dtype=np.float32)


def _targets(terminated: list[float], double: bool) -> np.ndarray:
    rewards = np.array([1.0, -1.0], dtype=np.float32)
    return td_targets(
        rewards,
        np.array(terminated, np.float32),
        NEXT_ONLINE,
        NEXT_TARGET,
        gamma=0.5,
        double=double,
    ).numpy()


def test_double_dqn_values_the_online_argmax_with_the_target_net() -> None:
    # online argmax: action 1 (row 0), action 0 (row 1) -> target values 20 and 40
    np.testing.assert_allclose(_targets([0, 0], double=True), [1 + 0.5 * 20, -1 + 0.5 * 40])


def test_plain_dqn_takes_the_target_max() -> None:
    np.testing.assert_allclose(_targets([0, 0], double=False), [1 + 0.5 * 30, -1 + 0.5 * 60])


def test_terminated_does_not_bootstrap_truncated_does() -> None:
    # the buffer stores truncation as terminated=0, so only a real end drops the next value
    np.testing.assert_allclose(_targets([1, 0], double=True), [1.0, -1 + 0.5 * 40])


def test_pack_unpack_round_trip() -> None:
    rng = np.random.default_rng(0)
    obs, next_obs = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    actions = rng.integers(0, 3, size=(3, 4)).astype(np.int32)
    rewards = rng.normal(size=(3, 4)).astype(np.float32)
    terminated = (rng.random((3, 4)) < 0.5).astype(np.float32)
    horizons = rng.integers(1, 4, size=(3, 4)).astype(np.float32)
    columns = (obs, actions, rewards, next_obs, terminated, horizons)
    back = [t.numpy() for t in unpack(tf.constant(pack(*columns)))]
    for got, want in zip(back, columns, strict=True):
        np.testing.assert_array_equal(got, want)
    assert back[1].dtype == np.int32


def test_numpy_copy_matches_keras() -> None:
    learner = DQNLearner(4, 2, DQNConfig(hidden_sizes=(16, 8), jit_compile=False))
    x = np.random.default_rng(1).normal(size=(7, 4)).astype(np.float32)
    np.testing.assert_allclose(learner.policy(x), learner.online(x).numpy(), rtol=1e-5, atol=1e-5)


def _batches(seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(3, 8, 4)).astype(np.float32),
        rng.integers(0, 2, size=(3, 8)).astype(np.int32),
        rng.normal(size=(3, 8)).astype(np.float32),
        rng.normal(size=(3, 8, 4)).astype(np.float32),
        (rng.random((3, 8)) < 0.2).astype(np.float32),
        np.ones((3, 8), dtype=np.float32),
    )


def test_train_moves_q_towards_targets_and_refreshes_the_numpy_copy() -> None:
    learner = DQNLearner(4, 2, DQNConfig(hidden_sizes=(16,), learning_rate=1e-2, jit_compile=False))
    before = learner.policy.kernels[0].copy()
    losses = [learner.train(_batches(0), 1e-2) for _ in range(30)]
    assert losses[-1] < losses[0]
    assert not np.array_equal(before, learner.policy.kernels[0])
    x = _batches(1)[0][0]
    np.testing.assert_allclose(learner.policy(x), learner.online(x).numpy(), rtol=1e-5, atol=1e-5)


def test_target_network_follows_by_polyak_rate() -> None:
    learner = DQNLearner(
        4, 2, DQNConfig(hidden_sizes=(8,), tau=1.0, target_update_interval=3, jit_compile=False)
    )
    learner.train(_batches(2), 1e-2)  # 3 gradient steps: a hard copy on the third
    for t, w in zip(learner.target.get_weights(), learner.online.get_weights(), strict=True):
        np.testing.assert_allclose(t, w, atol=1e-6)
    learner.train(tuple(b[:1] for b in _batches(3)), 1e-2)  # 1 step: no copy
    differs = [
        not np.allclose(t, w)
        for t, w in zip(learner.target.get_weights(), learner.online.get_weights(), strict=True)
    ]
    assert any(differs)


def test_state_dict_restores_training_exactly() -> None:
    config = DQNConfig(hidden_sizes=(8,), jit_compile=False)
    a = DQNLearner(4, 2, config)
    a.train(_batches(4), 1e-3)
    b = DQNLearner(4, 2, config)
    b.load_state_dict(a.state_dict())
    a.train(_batches(5), 1e-3)
    b.train(_batches(5), 1e-3)
    for x, y in zip(a.online.get_weights(), b.online.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
    assert isinstance(a.policy, NumpyMLP)


def test_horizon_discounts_the_bootstrap_by_gamma_to_the_n() -> None:
    got = td_targets(
        np.array([1.0], np.float32),
        np.array([0.0], np.float32),
        np.array([[0.0, 1.0]], np.float32),
        np.array([[0.0, 8.0]], np.float32),
        gamma=tf.pow(0.5, tf.constant([3.0])),
        double=True,
    ).numpy()
    np.testing.assert_allclose(got, [1.0 + 0.125 * 8.0])


def test_n_step_transitions_sum_rewards_and_flush_at_episode_end() -> None:
    from trainer.dqn import DQN
    from trainer.gymenv import make_env
    from trainer.specs import task_spec_for

    spec = task_spec_for("CartPole-v1", make_env("CartPole-v1"))
    config = DQNConfig(n_envs=1, n_step=3, learning_starts=10**6, gamma=0.5, eps_start=1.0)
    dqn = DQN("CartPole-v1", spec, config, seed=0)
    dqn.advance(300)  # several short random episodes, all ending by termination
    b, n = dqn.buffer, len(dqn.buffer)
    assert n + len(dqn.pending[0]) == 300  # every step is stored once, or waits in the queue
    horizons, ends = b.horizons[:n], b.terminated[:n]
    # mid-episode: 3 steps of reward 1 -> 1 + 0.5 + 0.25, bootstrapped 3 steps later
    full = (horizons == 3) & (ends == 0)
    np.testing.assert_allclose(b.rewards[:n][full], 1.75)
    # each ended episode flushes horizons 3, 2, 1 with terminated set (no bootstrap)
    last = np.flatnonzero(ends == 1)
    assert len(last) >= 3 * dqn.episodes - 3
    np.testing.assert_allclose(b.rewards[:n][(ends == 1) & (horizons == 1)], 1.0)
    # the next observation of a 3-step transition is the observation 3 steps on
    i = int(np.flatnonzero(full)[0])
    np.testing.assert_array_equal(b.next_obs[i], b.obs[i + 3])
    dqn.close()
