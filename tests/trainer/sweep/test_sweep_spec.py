"""SPEC.toml: checked key by key at load; expanded into trials and their train argv."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TINY, write_spec

from trainer.cli.main import build_parser
from trainer.sweep.spec import SpecError, load_spec
from trainer.sweep.trials import settings, train_argv, trials

pytestmark = pytest.mark.trainer


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "env = 'CartPole-v1'\nalgo = 'dqn'\nlearning_rate = 1e-3\n",
            "learning_rate: expected a key of env, algo",
        ),
        ("env = 'CartPole-v1'\nalgo = 'ppo'\n", "algo: expected one of ('dqn', 'qlearning')"),
        ("algo = 'dqn'\n", "env: expected a Gymnasium env id, found None"),
        ("preset = 'CartPole-v1'\n", "preset: expected 'ENV:ALGO'"),
        (TINY + "seeds = [0, 0]\n", "seeds: expected a count or a list of distinct seeds"),
        (TINY + "seeds = 0\n", "seeds: expected an integer >= 1, found 0"),
        (TINY + "[grid]\nlearning_rat = [1e-3]\n", "grid.learning_rat: expected a hyperparameter"),
        (TINY + "[grid]\nlearning_rate = []\n", "grid.learning_rate: expected a non-empty list"),
        (
            TINY + "samples = 2\n[random]\ngamma = {normal = [0.9, 1.0]}\n",
            "random.gamma: expected a table with one key of ('choice', 'uniform', 'loguniform')",
        ),
        (
            TINY + "samples = 2\n[random]\nlearning_rate = {loguniform = [0, 1e-2]}\n",
            "random.learning_rate.loguniform: expected a positive low",
        ),
        (TINY + "[random]\ngamma = {uniform = [0.9, 0.99]}\n", "samples: expected an integer"),
        (TINY + "scheduler = 'hyperband'\n", "scheduler: expected one of ('fifo', 'asha')"),
        (TINY + "robot_profiles = ['nowhere.toml']\n", "no such file"),
        (TINY + "env_args = {motor_gain = 0.6}\n", "env_args: expected an array of tables"),
        ("env = \n", "not valid TOML"),
    ],
)
def test_a_bad_spec_is_one_error_naming_file_key_expected_and_found(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write_spec(tmp_path, text)
    with pytest.raises(SpecError, match="^" + str(path)) as caught:
        load_spec(path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_grid_is_every_combination_with_every_seed(tmp_path: Path) -> None:
    text = TINY + (
        "seeds = [3, 4]\n[grid]\nlearning_rate = [1e-3, 2e-3]\nhidden_sizes = [[64, 64], [32]]\n"
        "[[env_args]]\nmax_episode_steps = 100\n[[env_args]]\nmax_episode_steps = 200\n"
    )
    spec = load_spec(write_spec(tmp_path, text))
    assert (spec.env_id, spec.algo, spec.seeds) == ("CartPole-v1", "dqn", (3, 4))
    found = trials(spec)
    assert len(settings(spec)) == 8 and len(found) == 16
    assert [t.name for t in found[:3]] == ["t00__s3", "t00__s4", "t01__s3"]
    assert found[0].setting.label == "learning_rate=0.001 hidden_sizes=64,64 max_episode_steps=100"


def test_random_search_draws_the_same_settings_every_time(tmp_path: Path) -> None:
    text = TINY + (
        "samples = 5\nsample_seed = 7\n[random]\nlearning_rate = {loguniform = [1e-4, 1e-2]}\n"
        "gamma = {uniform = [0.9, 0.99]}\nbatch_size = {choice = [32, 64]}\n"
    )
    spec = load_spec(write_spec(tmp_path, text))
    first = [s.hyperparameters for s in settings(spec)]
    assert first == [s.hyperparameters for s in settings(load_spec(spec.path))]
    assert len(first) == 5 and len({p["learning_rate"] for p in first}) == 5
    for point in first:
        assert 1e-4 <= point["learning_rate"] <= 1e-2 and 0.9 <= point["gamma"] <= 0.99
        assert point["batch_size"] in (32, 64)


def test_the_argv_is_trainer_train_with_each_setting_and_parses(tmp_path: Path) -> None:
    profile = write_spec(tmp_path, "env_id = 'sim2pi/ObstacleAvoid-v0'\n", "angled.toml")
    text = (
        "env = 'sim2pi/ObstacleAvoid-v0'\nalgo = 'dqn'\nsteps = 500\nseeds = [2]\n"
        "robot_profiles = ['angled.toml']\n[grid]\nhidden_sizes = [[32, 32]]\n"
        "[[env_args]]\ndead_band_range = [0.3, 0.3]\n"
    )
    spec = load_spec(write_spec(tmp_path, text))
    (trial,) = trials(spec)
    argv = train_argv(spec, trial, tmp_path / "run")
    assert argv == [
        "train", "--env", "sim2pi/ObstacleAvoid-v0", "--algo", "dqn", "--seed", "2",
        "--steps", "500", "--set", "hidden_sizes=32,32",
        "--env-arg", "dead_band_range=[0.3, 0.3]",
        "--robot-profile", str(profile.resolve()), "--out", str(tmp_path / "run"), "--quiet",
    ]  # fmt: skip
    args = build_parser().parse_args(argv)
    assert (args.seed, args.overrides, args.env_args) == (
        2, ["hidden_sizes=32,32"], ["dead_band_range=[0.3, 0.3]"]
    )  # fmt: skip
    assert Path(args.robot_profile).resolve() == profile.resolve()
