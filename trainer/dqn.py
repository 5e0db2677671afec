"""DQN with a target network, Double-DQN targets, Huber loss, gradient clipping and vector envs.

Read top to bottom: ``td_targets`` (the Bellman target), ``DQNLearner`` (networks, optimiser, the
compiled train step), ``DQN`` (acting ε-greedy in ``n_envs`` envs, filling the replay buffer,
training every ``train_freq`` env steps, saving and restoring everything an exact resume needs).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from shared.spec import TaskSpec
from trainer.gymenv import make_vector_env
from trainer.hyperparams import DQNConfig
from trainer.qnetwork import NumpyMLP, build_mlp
from trainer.replay import ReplayBuffer
from trainer.schedules import LinearSchedule


def td_targets(
    rewards: tf.Tensor,
    terminated: tf.Tensor,
    next_q_online: tf.Tensor,
    next_q_target: tf.Tensor,
    *,
    gamma: float | tf.Tensor,
    double: bool,
) -> tf.Tensor:
    """r + γ·(1 − terminated)·Q_target(s', a*); a* = argmax of Q_online (Double DQN) or Q_target.

    Truncated (time-limit) transitions have ``terminated`` = 0 and so bootstrap.
    """
    chooser = next_q_online if double else next_q_target
    best = tf.argmax(chooser, axis=-1, output_type=tf.int32)
    next_value = tf.gather(next_q_target, best, axis=-1, batch_dims=1)
    return rewards + gamma * (1.0 - terminated) * next_value


def pack(  # noqa: PLR0917 (one array per replay column)
    obs: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    next_obs: np.ndarray,
    terminated: np.ndarray,
    horizons: np.ndarray,
) -> np.ndarray:
    """Replay batches as one float32 array [obs | action | reward | next_obs | terminated | n]."""
    columns = (
        actions[..., None],
        rewards[..., None],
        next_obs,
        terminated[..., None],
        horizons[..., None],
    )
    return np.concatenate((obs, *columns), axis=-1, dtype=np.float32)


def unpack(packed: tf.Tensor) -> tuple[tf.Tensor, ...]:
    """Inverse of ``pack`` inside the graph (actions back to int32)."""
    obs_size = (packed.shape[-1] - 4) // 2
    obs = packed[..., :obs_size]
    actions = tf.cast(packed[..., obs_size], tf.int32)
    rewards = packed[..., obs_size + 1]
    next_obs = packed[..., obs_size + 2 : 2 * obs_size + 2]
    terminated = packed[..., -2]
    horizons = packed[..., -1]
    return obs, actions, rewards, next_obs, terminated, horizons


class DQNLearner:
    """Online and target Q-networks, the Adam optimiser, and the compiled train step."""

    def __init__(self, obs_size: int, n_actions: int, config: DQNConfig) -> None:
        self.config = config
        hidden, act = config.hidden_sizes, config.activation
        self.online = build_mlp(obs_size, n_actions, hidden, act)
        self.target = build_mlp(obs_size, n_actions, hidden, act)
        self.target.set_weights(self.online.get_weights())
        self.optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
        self.optimizer.build(self.online.trainable_variables)
        self.gradient_steps = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._compiled: dict[tuple[int, int], Any] = {}
        self.policy = NumpyMLP(self.online.get_weights(), act)

    def _train_batches(self, packed: tf.Tensor, learning_rate: tf.Tensor) -> list[tf.Tensor]:
        """Gradient steps on packed batches (n_batches, batch, ...); returns loss and weights.

        One packed input and the online weights as outputs keep the Python↔TensorFlow crossings
        (which cost more than the maths for a small MLP) to one call per training round.
        """
        cfg = self.config
        obs, actions, rewards, next_obs, terminated, horizons = unpack(packed)
        weights = self.online.trainable_variables
        target_weights = self.target.trainable_variables
        self.optimizer.learning_rate.assign(learning_rate)
        total = tf.constant(0.0)
        n_batches = tf.shape(obs)[0]
        for i in tf.range(n_batches):
            y = td_targets(
                rewards[i],
                terminated[i],
                self.online(next_obs[i]),
                self.target(next_obs[i]),
                gamma=tf.pow(cfg.gamma, horizons[i]),
                double=cfg.double_dqn,
            )
            y = tf.stop_gradient(y)
            with tf.GradientTape() as tape:
                q = tf.gather(self.online(obs[i]), actions[i], axis=-1, batch_dims=1)
                error = tf.abs(y - q)
                quadratic = tf.minimum(error, cfg.huber_delta)
                loss = tf.reduce_mean(0.5 * quadratic**2 + cfg.huber_delta * (error - quadratic))
            grads = tape.gradient(loss, weights)
            grads, _ = tf.clip_by_global_norm(grads, cfg.max_grad_norm)
            self.optimizer.apply_gradients(zip(grads, weights, strict=True))
            self.gradient_steps.assign_add(1)
            due = self.gradient_steps % cfg.target_update_interval == 0
            rate = tf.where(due, cfg.tau, 0.0)
            for t, w in zip(target_weights, weights, strict=True):
                t.assign(t + rate * (w - t))
            total += loss
        return [total / tf.cast(n_batches, tf.float32), *[tf.identity(w) for w in weights]]

    def _function_for(self, n_batches: int, batch_size: int, obs_size: int) -> Any:
        """The compiled train step for this batch shape (a concrete function: cheap to call)."""
        key = (n_batches, batch_size)
        if key not in self._compiled:
            fn = tf.function(self._train_batches, jit_compile=self.config.jit_compile)
            self._compiled[key] = fn.get_concrete_function(
                tf.TensorSpec((n_batches, batch_size, 2 * obs_size + 4), tf.float32),
                tf.TensorSpec((), tf.float32),
            )
        return self._compiled[key]

    def train(self, batches: tuple, learning_rate: float) -> float:
        """Run ``len(batches[0])`` gradient steps at ``learning_rate``; refresh the acting copy."""
        packed = pack(*batches)
        fn = self._function_for(packed.shape[0], packed.shape[1], batches[0].shape[2])
        loss, *weights = fn(packed, np.float32(learning_rate))
        self.policy.set_weights([w.numpy() for w in weights])
        return float(loss)

    def state_dict(self) -> dict[str, Any]:
        """Weights of both networks and every optimiser variable."""
        return {
            "online": self.online.get_weights(),
            "target": self.target.get_weights(),
            "optimizer": [v.numpy() for v in self.optimizer.variables],
            "gradient_steps": int(self.gradient_steps.numpy()),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict``'s output exactly."""
        self.online.set_weights(state["online"])
        self.target.set_weights(state["target"])
        for variable, value in zip(self.optimizer.variables, state["optimizer"], strict=True):
            variable.assign(value)
        self.gradient_steps.assign(state["gradient_steps"])
        self.policy.set_weights(self.online.get_weights())


class DQN:
    """The DQN training process on ``n_envs`` copies of an env; ``advance`` runs it forward."""

    algo = "dqn"

    def __init__(
        self,
        env_id: str,
        spec: TaskSpec,
        config: DQNConfig,
        seed: int,
        env_kwargs: dict[str, Any] | None = None,
        *,
        init_weights: list[np.ndarray] | None = None,
    ) -> None:
        """``env_kwargs``: keyword arguments of every training env (``--env-arg``);
        ``init_weights``: the online and target networks' first weights (``--init-from``)."""
        self.env_id, self.spec, self.config, self.seed = env_id, spec, config, seed
        keras.utils.set_random_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.envs = make_vector_env(env_id, config.n_envs, **(env_kwargs or {}))
        self.n_actions = len(spec.actions)
        self.learner = DQNLearner(spec.observation.size, self.n_actions, config)
        if init_weights is not None:
            for network in (self.learner.online, self.learner.target, self.learner.policy):
                network.set_weights(init_weights)
        self.buffer = ReplayBuffer(config.buffer_size, spec.observation.size)
        total = config.total_steps
        self.epsilon = LinearSchedule.over_fraction(
            config.eps_start, config.eps_end, config.eps_fraction, total
        )
        self.learning_rate = LinearSchedule(config.learning_rate, config.learning_rate_final, total)
        raw, _ = self.envs.reset(seed=seed)
        self.obs = spec.observation.normalize(raw)
        self.episode_return = np.zeros(config.n_envs)
        self.pending: list[list[tuple]] = [[] for _ in range(config.n_envs)]  # n-step queues
        self.step = 0  # env steps, summed over envs
        self.episodes = 0
        self.last_loss = float("nan")

    def greedy_action(self, raw_obs: np.ndarray) -> int:
        """The greedy action for one raw observation."""
        return int(np.argmax(self.learner.policy(self.spec.observation.normalize(raw_obs))))

    def stats(self) -> dict[str, float]:
        """Schedules and loss at the current step, for logs."""
        return {
            "epsilon": self.epsilon(self.step),
            "learning_rate": self.learning_rate(self.step),
            "loss": self.last_loss,
        }

    def advance(self, until_step: int) -> list[float]:
        """Step the envs (training as scheduled) until ``until_step``; returns finished returns."""
        cfg, n = self.config, self.config.n_envs
        finished: list[float] = []
        while self.step < until_step:
            explore = self.rng.random(n) < self.epsilon(self.step)
            random_actions = self.rng.integers(0, self.n_actions, size=n)
            greedy = np.argmax(self.learner.policy(self.obs), axis=1)
            actions = np.where(explore, random_actions, greedy)
            raw, rewards, terminated, truncated, infos = self.envs.step(actions)
            next_obs = self.spec.observation.normalize(raw)
            done = terminated | truncated
            stored_next = next_obs
            if done.any():
                stored_next = next_obs.copy()
                for i in np.flatnonzero(done):
                    stored_next[i] = self.spec.observation.normalize(infos["final_obs"][i])
            if cfg.n_step == 1:
                self.buffer.add(self.obs, actions, rewards, stored_next, terminated)
            else:
                self._add_n_step(actions, rewards, stored_next, terminated, done)
            self.episode_return += rewards
            for i in np.flatnonzero(done):
                finished.append(float(self.episode_return[i]))
                self.episode_return[i] = 0.0
                self.episodes += 1
            self.obs = next_obs
            before = self.step
            self.step += n
            rounds = self.step // cfg.train_freq - before // cfg.train_freq
            if self.step >= cfg.learning_starts and rounds > 0:
                batches = self.buffer.sample(self.rng, cfg.batch_size, rounds * cfg.gradient_steps)
                self.last_loss = self.learner.train(batches, self.learning_rate(self.step))
        return finished

    def _add_n_step(
        self,
        actions: np.ndarray,
        rewards: np.ndarray,
        stored_next: np.ndarray,
        terminated: np.ndarray,
        done: np.ndarray,
    ) -> None:
        """Queue this step per env; store n-step transitions that are complete or cut short."""
        n, gamma = self.config.n_step, self.config.gamma
        rows: list[tuple] = []
        for i, queue in enumerate(self.pending):
            queue.append((self.obs[i], int(actions[i]), float(rewards[i])))
            if not done[i] and len(queue) < n:
                continue
            # an ended episode flushes its whole queue; otherwise only the oldest entry is due
            for start in range(len(queue) if done[i] else 1):
                steps = queue[start:]
                ret = sum(r * gamma**k for k, (_, _, r) in enumerate(steps))
                first_obs, action, _ = steps[0]
                end = float(terminated[i]) if done[i] else 0.0
                rows.append((first_obs, action, ret, stored_next[i], end, len(steps)))
            if done[i]:
                queue.clear()
            else:
                queue.pop(0)
        if rows:
            obs, acts, rets, nexts, ends, horizons = (np.array(c) for c in zip(*rows, strict=True))
            self.buffer.add(obs, acts, rets, nexts, ends, horizons)

    # ---- checkpoints -------------------------------------------------------------------------

    def save_policy(self, directory: Path) -> None:
        """Write the online network as ``model.keras`` (what the exporter reads)."""
        directory.mkdir(parents=True, exist_ok=True)
        self.learner.online.save(directory / "model.keras")

    def save(self, directory: Path) -> None:
        """Write everything an exact resume needs: networks, optimiser, buffer, envs, RNG."""
        self.save_policy(directory)
        with open(directory / "state.pkl", "wb") as f:
            pickle.dump(
                {
                    "learner": self.learner.state_dict(),
                    "buffer": self.buffer.state_dict(),
                    "envs": self.envs,
                    "rng": self.rng.bit_generator.state,
                    "obs": self.obs,
                    "episode_return": self.episode_return,
                    "step": self.step,
                    "episodes": self.episodes,
                    "last_loss": self.last_loss,
                    "pending": self.pending,
                },
                f,
                protocol=pickle.HIGHEST_PROTOCOL,
            )

    def load(self, directory: Path) -> None:
        """Restore a ``save``d state (the config must be the one it was saved with)."""
        with open(directory / "state.pkl", "rb") as f:
            state = pickle.load(f)
        self.learner.load_state_dict(state["learner"])
        self.buffer = ReplayBuffer.from_state_dict(state["buffer"])
        self.envs.close()
        self.envs = state["envs"]
        self.rng.bit_generator.state = state["rng"]
        self.obs = state["obs"]
        self.episode_return = state["episode_return"]
        self.step = state["step"]
        self.episodes = state["episodes"]
        self.last_loss = state["last_loss"]
        self.pending = state["pending"]

    def close(self) -> None:
        """Close the envs."""
        self.envs.close()
