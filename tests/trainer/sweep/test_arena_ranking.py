"""The robot env's ranking on the arena suite: one definition, the layering, the seeds, the key."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import TINY, write_spec

import bench.arenas_suite
import shared.arena_suite
from shared.arena_suite import SUITE, parse_arena
from trainer.evaluation import (
    arena_ranking_seeds,
    confirmation_seeds,
    eval_seeds,
    ranking_seeds,
    selection_seeds,
)
from trainer.export.rollouts import ROLLOUT_SEED_BASE
from trainer.gymenv import make_env
from trainer.hyperparams import preset_env_kwargs
from trainer.robot_profile import EXAMPLE, read_profile
from trainer.sweep.arenas import ARENA_ENV_ID, arena_env_kwargs
from trainer.sweep.checks import MAX_ARENA_EPISODES, MAX_SEED
from trainer.sweep.spec import SpecError, load_spec

pytestmark = pytest.mark.trainer

ROBOT = "env = 'sim2pi/ObstacleAvoid-v0'\nalgo = 'dqn'\n"
#: A run's env kwargs for the angled robot: the preset's env table, then the profile's [env].
ANGLED = {**preset_env_kwargs(ARENA_ENV_ID, "dqn"), **read_profile(EXAMPLE).env}
IMPERFECTIONS = ("sensor_noise_m", "dropout_prob", "motor_gain")


def test_the_bench_suite_is_the_shared_definition_not_a_copy() -> None:
    for name in ("SUITE", "VARIANTS", "DEFAULT_ARENA", "CLUTTERED", "parse_arena"):
        assert getattr(bench.arenas_suite, name) is getattr(shared.arena_suite, name)
    assert bench.arenas_suite.Arena is shared.arena_suite.SuiteArena
    assert [arena.name for arena in SUITE][:2] == ["4m/6 plain", "4m/6 rough"] and len(SUITE) == 10
    assert parse_arena("3m/11 rough") in SUITE


@pytest.mark.parametrize("base", [{}, {"collision": "continue", "arena_size_range_m": [3.0, 6.0]}])
def test_the_reference_robot_gets_exactly_the_suites_values(base: dict) -> None:
    for arena in SUITE:
        kwargs = arena_env_kwargs(base, arena)
        assert (kwargs["arena_size_m"], kwargs["obstacles"]) == (arena.side_m, arena.obstacles)
        values = (arena.noise_std_m, arena.dropout_prob, arena.motor_gain)
        assert tuple(kwargs[key] for key in IMPERFECTIONS) == values
        assert "arena_size_range_m" not in kwargs and kwargs.get("collision") == base.get(
            "collision"
        )


def test_a_profiles_robot_keeps_its_own_and_gets_the_rough_world_on_top() -> None:
    assert (ANGLED["motor_gain"], ANGLED["sensor_noise_m"], ANGLED["dropout_prob"]) == (
        0.6,
        0.03,
        0.05,
    )
    plain = arena_env_kwargs(ANGLED, parse_arena("3m/11 plain"))
    rough = arena_env_kwargs(ANGLED, parse_arena("3m/11 rough"))

    assert tuple(plain[key] for key in IMPERFECTIONS) == (0.03, 0.05, 0.6)
    assert rough["motor_gain"] == pytest.approx(0.6 * 0.8)  # the rough floor slows its motors
    assert rough["sensor_noise_m"] == pytest.approx(math.sqrt(0.03**2 + 0.02**2 - 0.01**2))
    assert rough["dropout_prob"] == pytest.approx(1 - 0.95 * 0.95)  # independent misses
    layout = ("arena_size_m", "obstacles", "arena_size_range_m", "obstacles_range")
    for kwargs in (plain, rough):
        same = {k: v for k, v in kwargs.items() if k not in (*IMPERFECTIONS, *layout)}
        assert same == {k: v for k, v in ANGLED.items() if k not in (*IMPERFECTIONS, *layout)}
        assert (kwargs["arena_size_m"], kwargs["obstacles"]) == (3.0, 11)
        assert "obstacles_range" not in kwargs and "arena_size_range_m" not in kwargs


def test_the_env_is_built_with_the_layered_kwargs() -> None:
    kwargs = arena_env_kwargs(ANGLED, parse_arena("3m/11 rough"))
    env = make_env(ARENA_ENV_ID, **kwargs)
    try:
        env.reset(seed=arena_ranking_seeds(1)[0])
        robot = env.unwrapped
        arena = robot.world.arena
        assert (arena.width_m, len(arena.discs) + len(arena.boxes)) == (3.0, 11)
        assert (robot.motor_gain, robot.sensor_noise_m, robot.dropout_prob) == tuple(
            kwargs[key] for key in ("motor_gain", "sensor_noise_m", "dropout_prob")
        )
        assert (robot.side_ranger_deg, robot.collision) == (25.0, "continue")
    finally:
        env.close()


def test_the_arena_seeds_are_no_training_evaluation_or_ranking_seed() -> None:
    arena = arena_ranking_seeds(MAX_ARENA_EPISODES)
    assert arena == list(range(5_000_000, 5_000_000 + MAX_ARENA_EPISODES))
    # Each other family starts at its base and stays below base + 1,000,000 (training's seeds
    # and their vectorised envs below MAX_SEED; a million episodes of any evaluation).
    first = {
        "training": 0,
        "evaluation": eval_seeds(1)[0],
        "export rollouts": ROLLOUT_SEED_BASE,
        "selection": selection_seeds(1)[0],
        "confirmation": confirmation_seeds(1)[0],
        "ranking": ranking_seeds(1)[0],
    }
    assert MAX_SEED == 1_000_000
    for name, base in first.items():
        assert min(arena) >= base + 1_000_000, name
    assert len(set(arena)) == len(arena)


def test_the_robot_env_ranks_five_episodes_per_arena_by_default(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, ROBOT))
    assert (spec.rank_arena_episodes, spec.rank_episodes) == (5, 50)
    spec = load_spec(write_spec(tmp_path, ROBOT + "rank_arena_episodes = 1\n"))
    assert (spec.rank_arena_episodes, spec.rank_episodes) == (1, 10)
    gym = load_spec(write_spec(tmp_path, TINY))
    assert (gym.rank_arena_episodes, gym.rank_episodes) == (None, 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            ROBOT + "rank_arena_episodes = 0\n",
            "rank_arena_episodes: expected an integer in [1, 1000], found 0; "
            "e.g. rank_arena_episodes = 1",
        ),
        (ROBOT + "rank_arena_episodes = 1001\n", "expected an integer in [1, 1000], found 1001"),
        (ROBOT + "rank_arena_episodes = '3'\n", "expected an integer in [1, 1000], found '3'"),
        (ROBOT + "rank_arena_episodes = true\n", "expected an integer in [1, 1000], found True"),
        (
            ROBOT + "rank_episodes = 20\n",
            "rank_episodes: expected rank_arena_episodes for sim2pi/ObstacleAvoid-v0 (its trials "
            "are ranked in each of the arena suite's 10 arenas), found 20; replace it with "
            "rank_arena_episodes = N (episodes per arena)",
        ),
        (
            TINY + "rank_arena_episodes = 2\n",
            "rank_arena_episodes: expected no rank_arena_episodes for CartPole-v1 (only "
            "sim2pi/ObstacleAvoid-v0 is ranked on the arena suite), found 2; remove it",
        ),
    ],
)
def test_a_bad_arena_episodes_key_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = write_spec(tmp_path, text)
    with pytest.raises(SpecError) as error:
        load_spec(path)
    line = str(error.value)
    assert line.startswith(f"{path}: ") and message in line and "\n" not in line
