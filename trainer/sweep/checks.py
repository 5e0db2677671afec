"""What ``load_spec`` checks beyond one key: seeds, trial count, env id, distinct settings.

Each check runs on numbers the spec gives (counts, ids), before any trial is built, so that a
spec of a million trials is one error line and not minutes of building and a MemoryError.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainer.sweep.spec import SweepSpec, _Checker

#: The most trials one sweep may have; a bigger one is almost always a typo in a count.
MAX_TRIALS = 10_000
#: Training seeds stay below this: evaluation, selection, confirmation and ranking episodes use
#: seeds from 1,000,000 up (``trainer.evaluation``), and vectorised envs use seed..seed+n-1.
MAX_SEED = 1_000_000
#: ``rank_arena_episodes``: episodes in each arena of the suite unless the spec says, and the most
#: it may say (ten arenas of up to 1,200 steps an episode: more is almost always a typo).
DEFAULT_ARENA_EPISODES = 5
MAX_ARENA_EPISODES = 1000


def trial_count(spec: SweepSpec) -> int:
    """Settings × seeds of a checked spec, as a product (no trial is built)."""
    if spec.search == "random":
        points = spec.samples
    else:
        points = math.prod(len(values) for values in spec.grid.values())
    return points * len(spec.env_args) * len(spec.robot_profiles) * len(spec.seeds)


def checked_seeds(check: _Checker, value: Any) -> tuple[int, ...]:
    """``seeds``: a count (at most ``MAX_TRIALS``) or distinct seeds in [0, ``MAX_SEED``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if check.integer("seeds", value, 1) <= MAX_TRIALS:
            return tuple(range(value))
        raise check.fail("seeds", f"at most {MAX_TRIALS:,} seeds", value, "sweep fewer seeds")
    ok = isinstance(value, list) and value and all(type(s) is int and s >= 0 for s in value)
    if not ok or len(set(value)) != len(value):
        raise check.fail(
            "seeds", "a count or a list of distinct seeds >= 0", value, "e.g. seeds = [0, 1, 2]"
        )
    if max(value) >= MAX_SEED:
        raise check.fail("seeds", f"seeds < {MAX_SEED:,}", max(value), f"seeds from "
                         f"{MAX_SEED:,} up are the evaluation and ranking episodes' (trainer/"
                         "evaluation.py): training there ranks on seen ones")  # fmt: skip
    return tuple(value)


def ranking_episodes(check: _Checker, data: dict[str, Any], env_id: str) -> dict[str, Any]:
    """``rank_episodes`` (a Gymnasium env's ranking seeds) or, for the env that is ranked on the
    arena suite, ``rank_arena_episodes`` (each arena's); the other key is refused."""
    from shared.arena_suite import SUITE
    from trainer.sweep.arenas import ARENA_ENV_ID, ranks_on_arenas

    if not ranks_on_arenas(env_id):
        if "rank_arena_episodes" in data:
            raise check.fail("rank_arena_episodes", f"no rank_arena_episodes for {env_id} (only "
                             f"{ARENA_ENV_ID} is ranked on the arena suite)",
                             data["rank_arena_episodes"], "remove it, or set rank_episodes = N "
                             "(episodes on the ranking seeds)")  # fmt: skip
        return {"rank_episodes": check.integer("rank_episodes", data.get("rank_episodes", 20), 1)}
    if "rank_episodes" in data:
        raise check.fail("rank_episodes", f"rank_arena_episodes for {env_id} (its trials are "
                         f"ranked in each of the arena suite's {len(SUITE)} arenas)",
                         data["rank_episodes"], "replace it with rank_arena_episodes = N "
                         "(episodes per arena)")  # fmt: skip
    value = data.get("rank_arena_episodes", DEFAULT_ARENA_EPISODES)
    episodes = check.integer("rank_arena_episodes", value, 1, MAX_ARENA_EPISODES)
    return {"rank_arena_episodes": episodes, "rank_episodes": episodes * len(SUITE)}


def env_error(env_id: str) -> str | None:
    """Why ``env_id`` cannot be made (sim2pi's envs registered first), or None."""
    import gymnasium as gym

    import trainer.envs  # noqa: F401  (registers sim2pi/ envs)

    try:
        gym.spec(env_id)
    except gym.error.Error as exc:
        return str(exc)
    return None


def first_repeat(items: list[Any]) -> Any | None:
    """The first item equal to an earlier one (compared as sorted JSON), or None."""
    seen: set[str] = set()
    for item in items:
        key = json.dumps(item, sort_keys=True, default=str)
        if key in seen:
            return item
        seen.add(key)
    return None


def check_whole(check: _Checker, spec: SweepSpec, env_key: str) -> None:
    """The checks across keys; ``SpecError`` (from ``check``) for the first that fails."""
    from trainer.sweep.trials import hyperparameter_points  # trials imports spec, spec this

    reason = env_error(spec.env_id)
    if reason is not None:
        raise check.fail(env_key, "a registered Gymnasium env id", spec.env_id,
                         f"{reason.rstrip('.')}; e.g. 'CartPole-v1' or "
                         "'sim2pi/ObstacleAvoid-v0'")  # fmt: skip
    count = trial_count(spec)
    if count > MAX_TRIALS:
        raise check.fail("grid/random/env_args/robot_profiles/seeds",
                         f"at most {MAX_TRIALS:,} trials (settings x seeds)", count,
                         "sweep fewer values or seeds")  # fmt: skip
    try:
        repeat = first_repeat(hyperparameter_points(spec))
    except (OverflowError, ValueError) as exc:
        raise check.fail("random", "distributions that can be drawn", str(exc),
                         "narrow them") from None  # fmt: skip
    if repeat is not None:
        raise check.fail("search", "distinct settings", repeat,
                         "random search drew this setting twice: give [random] wider "
                         "distributions, or draw fewer samples")  # fmt: skip
