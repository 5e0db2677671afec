"""Tabular Q-learning with ε and α schedules, on a Discrete env or a discretised continuous one.

The update is the classic one, with the two kinds of episode end told apart:
``Q[s,a] += α·(r + γ·max_a' Q[s',a'] − Q[s,a])`` where the bootstrap term is dropped only when the
episode *terminated*; a time-limit *truncation* still bootstraps from s'.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from shared.discretize import Discretizer
from shared.spec import TaskSpec
from trainer.errors import HyperparameterError
from trainer.gymenv import make_env
from trainer.hyperparams import QLearningConfig
from trainer.schedules import LinearSchedule


def q_update(
    table: np.ndarray,
    state: int,
    action: int,
    reward: float,
    next_state: int,
    *,
    terminated: bool,
    alpha: float,
    gamma: float,
) -> float:
    """Apply one Q-learning update in place; returns the TD error."""
    bootstrap = 0.0 if terminated else gamma * float(table[next_state].max())
    error = reward + bootstrap - float(table[state, action])
    table[state, action] += alpha * error
    return error


def make_discretizer(spec: TaskSpec, config: QLearningConfig) -> Discretizer:
    """The grid of states: one bin per index for a Discrete observation, else ``config.bins``."""
    obs = spec.observation
    names = obs.names
    if obs.size == 1 and obs.channels[0].unit == "index" and not config.bins:
        low, high = obs.channels[0].low, obs.channels[0].high
        # Half-integer bounds put each integer state in its own bin.
        return Discretizer.uniform([low - 0.5], [high + 0.5], int(high - low) + 1, names)
    if len(config.bins) != obs.size:
        raise HyperparameterError(
            f"bins: expected {obs.size} bin counts (one per channel {names}), found "
            f"{list(config.bins)}; set e.g. --set bins={','.join(['6'] * obs.size)}"
        )
    lows = list(config.bins_low) if config.bins_low else obs.lows.tolist()
    highs = list(config.bins_high) if config.bins_high else obs.highs.tolist()
    for key, values in (("bins_low", lows), ("bins_high", highs)):
        if len(values) != obs.size:
            raise HyperparameterError(
                f"{key}: expected {obs.size} values (one per channel {names}), found {values}"
            )
    return Discretizer.uniform(lows, highs, list(config.bins), names)


class QLearning:
    """The Q-learning training process on one env; ``advance`` runs it forward."""

    algo = "qlearning"

    def __init__(
        self,
        env_id: str,
        spec: TaskSpec,
        config: QLearningConfig,
        seed: int,
        env_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """``env_kwargs``: keyword arguments of the training env (``--env-arg``)."""
        self.env_id, self.spec, self.config, self.seed = env_id, spec, config, seed
        self.discretizer = make_discretizer(spec, config)
        self.n_actions = len(spec.actions)
        self.table = np.full((self.discretizer.n_states, self.n_actions), config.initial_q)
        self.visits = np.zeros((self.discretizer.n_states, self.n_actions), dtype=np.int64)
        self.rng = np.random.default_rng(seed)
        self.env = make_env(env_id, **(env_kwargs or {}))
        total = config.total_steps
        self.epsilon = LinearSchedule.over_fraction(
            config.eps_start, config.eps_end, config.eps_fraction, total
        )
        self.alpha = LinearSchedule.over_fraction(
            config.learning_rate, config.learning_rate_final, config.lr_fraction, total
        )
        raw, _ = self.env.reset(seed=seed)
        self.state = self.state_of(raw)
        self.episode_return = 0.0
        self.step = 0
        self.episodes = 0
        self.last_error = float("nan")

    def state_of(self, raw_obs: Any) -> int:
        """The flat state index of a raw observation."""
        return self.discretizer.index(np.atleast_1d(np.asarray(raw_obs, dtype=np.float64)))

    def greedy_action(self, raw_obs: Any) -> int:
        """The greedy action for one raw observation (ties: the lowest index)."""
        return int(np.argmax(self.table[self.state_of(raw_obs)]))

    def stats(self) -> dict[str, float]:
        """Schedules and the last TD error, for logs."""
        return {
            "epsilon": self.epsilon(self.step),
            "learning_rate": self.alpha(self.step),
            "loss": self.last_error,
        }

    def advance(self, until_step: int) -> list[float]:
        """Act ε-greedily and update until ``until_step``; returns finished episodes' returns."""
        gamma = self.config.gamma
        finished: list[float] = []
        table, rng, env = self.table, self.rng, self.env
        while self.step < until_step:
            state = self.state
            if rng.random() < self.epsilon(self.step):
                action = int(rng.integers(self.n_actions))
            else:
                row = table[state]  # random tie-break, so an all-equal row does not stick to 0
                action = int(rng.choice(np.flatnonzero(row == row.max())))
            raw, reward, terminated, truncated, _ = env.step(action)
            next_state = self.state_of(raw)
            self.last_error = q_update(
                table,
                state,
                action,
                float(reward),
                next_state,
                terminated=terminated,
                alpha=self.alpha(self.step),
                gamma=gamma,
            )
            self.visits[state, action] += 1
            self.episode_return += float(reward)
            self.step += 1
            if terminated or truncated:
                finished.append(self.episode_return)
                self.episode_return = 0.0
                self.episodes += 1
                raw, _ = env.reset()
                next_state = self.state_of(raw)
            self.state = next_state
        return finished

    # ---- checkpoints -------------------------------------------------------------------------

    def save_policy(self, directory: Path) -> None:
        """Write ``qtable.npy`` (n_states, n_actions) and ``discretizer.json``."""
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "qtable.npy", self.table)
        (directory / "discretizer.json").write_text(
            json.dumps(self.discretizer.to_dict(), indent=2)
        )

    def save(self, directory: Path) -> None:
        """Write the table, visit counts, env, RNG and counters: all an exact resume needs."""
        self.save_policy(directory)
        np.save(directory / "visits.npy", self.visits)
        with open(directory / "state.pkl", "wb") as f:
            pickle.dump(
                {
                    "env": self.env,
                    "rng": self.rng.bit_generator.state,
                    "state": self.state,
                    "episode_return": self.episode_return,
                    "step": self.step,
                    "episodes": self.episodes,
                    "last_error": self.last_error,
                },
                f,
                protocol=pickle.HIGHEST_PROTOCOL,
            )

    def load(self, directory: Path) -> None:
        """Restore a ``save``d state."""
        self.table = np.load(directory / "qtable.npy")
        self.visits = np.load(directory / "visits.npy")
        with open(directory / "state.pkl", "rb") as f:
            state = pickle.load(f)
        self.env.close()
        self.env = state["env"]
        self.rng.bit_generator.state = state["rng"]
        self.state = state["state"]
        self.episode_return = state["episode_return"]
        self.step = state["step"]
        self.episodes = state["episodes"]
        self.last_error = state["last_error"]

    def close(self) -> None:
        """Close the env."""
        self.env.close()
