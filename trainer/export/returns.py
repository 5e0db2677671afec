"""The return gate of the compact model: does it play as well as float32 in the env?

Greedy agreement is the first gate; a DQN's Q-values for one state often differ by less than
any 8-bit model can resolve, and there the choice hardly matters to the policy. So a compact
model that agrees on fewer states than required still passes when its mean return over
``episodes`` evaluation episodes (reset seeds ``1000000 + i``, as ``eval-bundle``) is within
``RETURN_SHARE`` of float32's: ``int8 >= float32 - (1 - RETURN_SHARE) * |float32|`` (for a
positive return that is ``>= 0.98 × float32``; for a negative one, at most 2 % worse).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shared.bundle import Bundle
from trainer.evaluation import eval_seeds, evaluate

#: The compact model's mean return must reach this share of float32's (see the module doc).
RETURN_SHARE = 0.98
#: Evaluation episodes of the return gate, per policy.
RETURN_EPISODES = 100


def required_return(float32_return: float, share: float = RETURN_SHARE) -> float:
    """The lowest mean return that is within ``1 - share`` of float32's (sign-aware)."""
    return float32_return - (1.0 - share) * abs(float32_return)


def return_check(env: Any, bundle: Bundle, episodes: int) -> dict[str, Any]:
    """Mean returns of the bundle's float32 and int8 policies through ``robot.inference`` on
    the evaluation seeds, and whether int8 meets the bar (the manifest's ``returns`` entry)."""
    from robot.inference import load_policy

    seeds = eval_seeds(episodes)
    means: dict[str, float] = {}
    for name in ("tflite", "tflite-int8"):
        policy = load_policy(bundle, name)

        def act(obs: Any, policy: Any = policy) -> int:
            return policy.decide(np.atleast_1d(np.asarray(obs, dtype=np.float32))).action_index

        means[name] = float(evaluate(env, act, seeds).as_dict()["mean"])
    required = required_return(means["tflite"])
    return {
        "episodes": episodes,
        "reset_seeds": [seeds[0], seeds[-1]],
        "float32_mean": means["tflite"],
        "int8_mean": means["tflite-int8"],
        "share": RETURN_SHARE,
        "required": required,
        "passed": means["tflite-int8"] >= required,
    }
