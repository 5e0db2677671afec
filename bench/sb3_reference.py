"""Stable-Baselines3's DQN on CartPole-v1 with rl-baselines3-zoo's settings: the reference run.

``scripts/bench_train --against-sb3`` runs this beside each of sim2pi's seeds, as a child process
(``python -m bench.sb3_reference --seed N``, one JSON object on stdout), so that both are timed
on the same machine under the same load. The greedy evaluation is sim2pi's criterion: every
2,000 env steps, 10 episodes on the selection seeds; "solved" is the first mean >= 475. Its time
is excluded from the training seconds, as in sim2pi's runs. The final model is evaluated on the
evaluation seeds (``trainer.evaluation.eval_seeds``), as sim2pi's final checkpoint is.

Needs ``requirements-bench.txt`` (stable-baselines3 and torch's CPU build).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

#: rl-baselines3-zoo's hyperparams/dqn.yml, CartPole-v1 (one env, 50k steps).
ZOO_CARTPOLE = {
    "learning_rate": 2.3e-3,
    "batch_size": 64,
    "buffer_size": 100_000,
    "learning_starts": 1_000,
    "gamma": 0.99,
    "target_update_interval": 10,
    "train_freq": 256,
    "gradient_steps": 128,
    "exploration_fraction": 0.16,
    "exploration_final_eps": 0.04,
    "policy_kwargs": {"net_arch": [256, 256]},
}
TOTAL_STEPS = 50_000
SOLVED = 475.0


def available() -> str | None:
    """None when stable-baselines3 and torch import; else why not, with the fix."""
    try:
        import stable_baselines3  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        return (
            f"the SB3 reference is not installed ({exc.name} is missing): "
            ".venv/bin/pip install -r requirements-bench.txt"
        )
    return None


def train(
    seed: int,
    total_steps: int = TOTAL_STEPS,
    threads: int = 1,
    eval_every: int = 2_000,
    episodes: int = 10,
) -> dict[str, Any]:
    """Train SB3's DQN for one seed; steps and seconds to solve, and the final model's return.

    ``threads``: torch's intra-op threads. One, like sim2pi's training, which spends ~96 % of its
    time in one compiled TensorFlow call on one core: with torch's default (all cores) on a
    loaded 2-core machine, its spinning threads made 4,000 steps take 155 s instead of 3.9 s.
    """
    import gymnasium as gym
    import torch

    torch.set_num_threads(threads)
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    from trainer.evaluation import eval_seeds, evaluate, selection_seeds

    eval_env = gym.make("CartPole-v1")

    def greedy(model: Any) -> Any:
        return lambda obs: int(model.predict(obs, deterministic=True)[0])

    class Judge(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.eval_seconds = 0.0
            self.evaluations: list[tuple[int, float, float]] = []  # step, mean, train seconds
            self.started = time.perf_counter()

        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every == 0:
                t = time.perf_counter()
                train_seconds = t - self.started - self.eval_seconds  # before this evaluation
                mean = evaluate(eval_env, greedy(self.model), selection_seeds(episodes)).mean
                self.eval_seconds += time.perf_counter() - t
                self.evaluations.append((self.num_timesteps, mean, train_seconds))
            return True

    model = DQN("MlpPolicy", "CartPole-v1", seed=seed, verbose=0, device="cpu", **ZOO_CARTPOLE)
    judge = Judge()
    model.learn(total_timesteps=total_steps, callback=judge)
    total_seconds = time.perf_counter() - judge.started - judge.eval_seconds
    solved = next((e for e in judge.evaluations if e[1] >= SOLVED), None)
    final = evaluate(eval_env, greedy(model), eval_seeds(episodes)).mean
    return {
        "seed": seed,
        "solve_steps": None if solved is None else solved[0],
        "solve_seconds": None if solved is None else round(solved[2], 3),
        "train_seconds": round(total_seconds, 3),
        "steps_per_second": total_steps / total_seconds,
        "final": final,
        "torch_threads": torch.get_num_threads(),
        "evaluations": judge.evaluations,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.sb3_reference --seed N``: one run, its JSON on stdout."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = argparse.ArgumentParser(prog="python -m bench.sb3_reference", description=__doc__)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--total-steps", type=int, default=TOTAL_STEPS, help="the zoo's: 50,000")
    parser.add_argument("--threads", type=int, default=1, help="torch's intra-op threads (1)")
    args = parser.parse_args(argv)
    missing = available()
    if missing:
        print(missing, file=sys.stderr)
        return 2
    print(json.dumps(train(args.seed, args.total_steps, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
