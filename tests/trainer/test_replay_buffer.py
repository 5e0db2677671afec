"""The replay buffer: ring order, sampling, and exact save/restore."""

import numpy as np
import pytest

from trainer.replay import ReplayBuffer

pytestmark = pytest.mark.trainer


def _fill(buffer: ReplayBuffer, start: int, n: int) -> None:
    ids = np.arange(start, start + n, dtype=np.float32)
    obs = np.stack([ids, -ids], axis=1)
    buffer.add(obs, ids.astype(np.int32), ids * 10, obs + 0.5, (ids % 2 == 0).astype(np.float32))


def test_add_keeps_transitions_aligned() -> None:
    buffer = ReplayBuffer(capacity=8, obs_size=2)
    _fill(buffer, 0, 3)
    assert len(buffer) == 3
    np.testing.assert_array_equal(buffer.actions[:3], [0, 1, 2])
    np.testing.assert_array_equal(buffer.rewards[:3], [0, 10, 20])
    np.testing.assert_array_equal(buffer.next_obs[:3, 0], [0.5, 1.5, 2.5])
    np.testing.assert_array_equal(buffer.terminated[:3], [1, 0, 1])


def test_ring_overwrites_the_oldest() -> None:
    buffer = ReplayBuffer(capacity=4, obs_size=2)
    _fill(buffer, 0, 3)
    _fill(buffer, 3, 3)  # wraps: slots 3, 0, 1
    assert len(buffer) == 4
    assert buffer.position == 2
    assert sorted(buffer.actions.tolist()) == [2, 3, 4, 5]


def test_sample_shapes_and_consistency() -> None:
    buffer = ReplayBuffer(capacity=100, obs_size=2)
    _fill(buffer, 0, 50)
    obs, actions, rewards, next_obs, terminated, horizons = buffer.sample(
        np.random.default_rng(0), 16, 3
    )
    np.testing.assert_array_equal(horizons, 1.0)
    assert obs.shape == (3, 16, 2) and next_obs.shape == (3, 16, 2)
    assert actions.shape == rewards.shape == terminated.shape == (3, 16)
    # every sampled row is one stored transition, not a mix of two
    np.testing.assert_array_equal(rewards, actions * 10)
    np.testing.assert_array_equal(obs[..., 0], actions)
    np.testing.assert_array_equal(terminated, (actions % 2 == 0))
    assert actions.max() < 50


def test_sample_is_reproducible_with_the_same_rng_state() -> None:
    buffer = ReplayBuffer(capacity=100, obs_size=2)
    _fill(buffer, 0, 60)
    a = buffer.sample(np.random.default_rng(7), 8)[1]
    b = buffer.sample(np.random.default_rng(7), 8)[1]
    np.testing.assert_array_equal(a, b)


def test_state_dict_round_trip_is_exact() -> None:
    buffer = ReplayBuffer(capacity=5, obs_size=2)
    _fill(buffer, 0, 7)
    copy = ReplayBuffer.from_state_dict(buffer.state_dict())
    for name in ("obs", "next_obs", "actions", "rewards", "terminated", "horizons"):
        np.testing.assert_array_equal(getattr(copy, name), getattr(buffer, name))
    assert (copy.position, copy.size) == (buffer.position, buffer.size)
    _fill(copy, 7, 1)
    _fill(buffer, 7, 1)
    np.testing.assert_array_equal(copy.actions, buffer.actions)


def test_empty_buffer_refuses_to_sample() -> None:
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(4, 2).sample(np.random.default_rng(0), 2)
