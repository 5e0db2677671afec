"""A numpy ring buffer of transitions for DQN, sampled uniformly with an explicit RNG."""

from __future__ import annotations

from typing import Any

import numpy as np


class ReplayBuffer:
    """Fixed-capacity FIFO of (obs, action, reward, next_obs, terminated, horizon) transitions.

    ``terminated`` is 1.0 only when the episode really ended (the TD target must not bootstrap);
    a time-limit truncation is stored as 0.0 with the true last observation as ``next_obs``, so the
    target does bootstrap from it. ``horizon`` is the number of env steps between ``obs`` and
    ``next_obs`` (1, or up to n for n-step returns, whose ``reward`` is the discounted sum); the
    target discounts the bootstrap by γ**horizon.
    """

    def __init__(self, capacity: int, obs_size: int) -> None:
        if capacity < 1:
            raise ValueError(f"replay buffer capacity: expected >= 1, found {capacity}")
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_size), dtype=np.float32)
        self.next_obs = np.zeros((capacity, obs_size), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int32)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.horizons = np.ones(capacity, dtype=np.float32)
        self.position = 0  # next slot to write
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(  # noqa: PLR0917 (one array per column)
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        horizons: np.ndarray | None = None,
    ) -> None:
        """Append a batch of transitions (leading axis = one per env), overwriting the oldest."""
        n = len(actions)
        idx = (self.position + np.arange(n)) % self.capacity
        self.obs[idx] = obs
        self.next_obs[idx] = next_obs
        self.actions[idx] = actions
        self.rewards[idx] = rewards
        self.terminated[idx] = terminated
        self.horizons[idx] = 1.0 if horizons is None else horizons
        self.position = int((self.position + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, rng: np.random.Generator, batch_size: int, n_batches: int = 1) -> tuple:
        """``n_batches`` uniform batches with replacement, arrays shaped (n_batches, batch, ...)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = rng.integers(0, self.size, size=(n_batches, batch_size))
        return (
            self.obs[idx],
            self.actions[idx],
            self.rewards[idx],
            self.next_obs[idx],
            self.terminated[idx],
            self.horizons[idx],
        )

    def state_dict(self) -> dict[str, Any]:
        """Arrays and counters, for an exact resume (only the filled part is kept)."""
        n = self.size
        return {
            "capacity": self.capacity,
            "position": self.position,
            "size": n,
            "obs": self.obs[:n].copy(),
            "next_obs": self.next_obs[:n].copy(),
            "actions": self.actions[:n].copy(),
            "rewards": self.rewards[:n].copy(),
            "terminated": self.terminated[:n].copy(),
            "horizons": self.horizons[:n].copy(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> ReplayBuffer:
        """Rebuild a buffer saved by ``state_dict``."""
        buffer = cls(int(state["capacity"]), state["obs"].shape[1])
        n = int(state["size"])
        for name in ("obs", "next_obs", "actions", "rewards", "terminated", "horizons"):
            getattr(buffer, name)[:n] = state[name]
        buffer.position = int(state["position"])
        buffer.size = n
        return buffer
