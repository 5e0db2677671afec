"""Specs that cannot be swept are one line before anything is built: size, repeats, env, seeds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import TINY, write_spec

from trainer.sweep.spec import SpecError, load_spec

QL = 'preset = "CartPole-v1:qlearning"\nsteps = 300\n'
#: Six qlearning hyperparameters of ten values each: a million settings.
HUGE_GRID = (
    QL
    + "[grid]\n"
    + "".join(
        f"{name} = [{', '.join(str(0.01 * (i + 1)) for i in range(10))}]\n"
        for name in ("learning_rate", "gamma", "eps_start", "eps_end", "initial_q", "lr_fraction")
    )
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (QL + "[grid]\nlearning_rate = [0.1, 0.1]\n", "grid.learning_rate: expected distinct"),
        (QL + "search = 'random'\nsamples = 3\n", "search: expected distinct settings"),
        (
            QL + "[[env_args]]\nmax_episode_steps = 100\n[[env_args]]\nmax_episode_steps = 100\n",
            "env_args: expected distinct variants",
        ),
        (QL + "robot_profiles = ['p.toml', './p.toml']\n", "robot_profiles: expected distinct"),
        ('preset = "Nope-v0:dqn"\n', "preset: expected a registered Gymnasium env id"),
        ('env = "sim2pi/Nope-v0"\nalgo = "dqn"\n', "env: expected a registered Gymnasium env"),
        (QL + "seeds = [4000000]\n", "seeds: expected seeds < 1,000,000, found 4000000"),
        (QL + "seeds = [999999, 1000000]\n", "seeds: expected seeds < 1,000,000"),
        (QL + "seeds = 1000000000\n", "seeds: expected at most 10,000 seeds"),
        (
            QL + "search = 'random'\nsamples = 100000000\n[random]\n"
            "learning_rate = {uniform = [0.01, 0.9]}\n",
            "at most 10,000 trials",
        ),
        (
            QL
            + "seeds = 101\n[grid]\nlearning_rate = ["
            + ", ".join(str(0.001 * (i + 1)) for i in range(100))
            + "]\n",
            "found 10100",
        ),
        (QL + "[random]\nlearning_rate = {uniform = [0, inf]}\n", "expected finite bounds"),
        (QL + "sample_seed = 3\n[grid]\nlearning_rate = [0.1]\n", "samples or sample_seed"),
    ],
)
def test_a_spec_that_cannot_be_swept_is_refused_at_load(
    tmp_path: Path, text: str, message: str
) -> None:
    write_spec(tmp_path, "env_id = 'CartPole-v1'\n", "p.toml")
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_spec(write_spec(tmp_path, text))


def test_a_million_trials_are_refused_without_building_them(tmp_path: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(SpecError, match="found 1000000;"):
        load_spec(write_spec(tmp_path, HUGE_GRID))
    assert time.perf_counter() - started < 1.0


def test_a_sim2pi_env_loads_and_a_directory_is_not_a_spec(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, "env = 'sim2pi/ObstacleAvoid-v0'\nalgo = 'dqn'\n"))
    assert spec.env_id == "sim2pi/ObstacleAvoid-v0"
    with pytest.raises(SpecError, match="cannot read the spec"):
        load_spec(tmp_path)
    assert load_spec(write_spec(tmp_path, TINY + "seeds = [999999]\n")).seeds == (999999,)
