"""Which checkpoint is best, and when a run is solved: training's own greedy evaluations.

Every ``eval_every`` env steps the policy plays ``eval_episodes`` greedy episodes on the
selection seeds. An evaluation that beats the best score so far (or, with ``stop_on_solved``,
reaches the env's solved return) plays ``confirm_episodes`` more on the confirmation seeds, and
its score is the mean over both sets. So one lucky set of ten episodes can neither make a
checkpoint "best" nor end a run; and because both sets are disjoint from the evaluation seeds
(``trainer.evaluation``), the figures reported on those measure a choice made without them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from trainer.errors import UsageError
from trainer.evaluation import EvalResult, confirmation_seeds, evaluate, selection_seeds


def solved_return(env_id: str, config: Any) -> float | None:
    """The return at which ``stop_on_solved`` ends the run (None when it is off).

    Gymnasium's ``reward_threshold`` of the env; ``UsageError`` when the option is on and the env
    has none, or when there is no confirmation to make the stop rest on more than one evaluation.
    """
    if not config.stop_on_solved:
        return None
    threshold = gym.spec(env_id).reward_threshold
    if threshold is None:
        raise UsageError(
            f"stop_on_solved=true: {env_id} has no solved return (its Gymnasium spec has no "
            "reward_threshold); train the whole budget with --set stop_on_solved=false"
        )
    if config.confirm_episodes < 1:
        raise UsageError(
            "stop_on_solved=true needs confirm_episodes >= 1, so that one lucky evaluation "
            "cannot end the run; set --set confirm_episodes=20"
        )
    return float(threshold)


@dataclass(frozen=True)
class Judgement:
    """One periodic evaluation and what it decided."""

    result: EvalResult
    """the episodes on the selection seeds"""
    score: float | None
    """mean over the selection and confirmation episodes; None when it was no contender"""
    new_best: bool
    """the score beats every earlier one: this checkpoint becomes "best" """
    solved: bool
    """``stop_on_solved`` and the score reached the solved return: the run ends here"""


def judge(
    env: gym.Env[Any, Any],
    act: Callable[[Any], int],
    config: Any,
    best: float | None,
    bar: float | None,
) -> Judgement:
    """Evaluate ``act`` greedily, confirm it when it contends, and say what that decides."""
    result = evaluate(env, act, selection_seeds(config.eval_episodes))
    score: float | None = result.mean
    contender = best is None or result.mean > best or (bar is not None and result.mean >= bar)
    if config.confirm_episodes and contender:
        confirm = evaluate(env, act, confirmation_seeds(config.confirm_episodes))
        score = float(np.mean(result.returns + confirm.returns))
    elif config.confirm_episodes:
        score = None
    new_best = score is not None and (best is None or score > best)
    solved = bar is not None and score is not None and score >= bar
    return Judgement(result, score, new_best, solved)
