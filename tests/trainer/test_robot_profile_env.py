"""The env a robot profile describes for ``eval``/``export``/``eval-bundle`` (the run's env with its
robot replaced), and ``train --resume`` taking a run's own command line back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.reference_robot import ENV_ID
from trainer.cli.train import _check_resume_env_args
from trainer.errors import UsageError
from trainer.gymenv import make_env
from trainer.hyperparams import preset_env_kwargs
from trainer.robot_profile import EXAMPLE, ROBOT_KEYS, env_with_profile, load_profile, read_profile

pytestmark = pytest.mark.trainer

HEADER = f'[profile]\nformat = 1\nname = "b"\nenv_id = "{ENV_ID}"\n'
#: The simulator's reference robot: ObstacleAvoid's constructor defaults for its robot keys.
REFERENCE = {
    "motor_gain": 1.0,
    "left_motor_gain": 1.0,
    "right_motor_gain": 1.0,
    "motor_time_constant_s": 0.1,
    "motor_gain_spread": 0.0,
    "dead_band_range": None,
    "latency_ticks": 0,
    "sensor_noise_m": 0.0,
    "dropout_prob": 0.0,
    "side_ranger_deg": 45.0,
}
#: A run's recorded env: the DQN preset's world and robot A (the angled profile), 2 s episodes.
RECORDED = {**preset_env_kwargs(ENV_ID, "dqn"), **read_profile(EXAMPLE).env, "max_episode_s": 2}


def _profile(tmp_path: Path, env: str, header: str = HEADER) -> Path:
    path = tmp_path / "b.toml"
    path.write_text(header + "[env]\n" + env)
    return path


def test_the_robot_keys_are_the_envs_robot_and_their_defaults_the_reference_robot(
    tmp_path: Path,
) -> None:
    assert set(ROBOT_KEYS[ENV_ID]) == set(REFERENCE)
    profile = load_profile(_profile(tmp_path, ""), ENV_ID)
    assert env_with_profile(ENV_ID, dict.fromkeys(REFERENCE, 0.5) | REFERENCE, profile) == REFERENCE
    robot = make_env(ENV_ID).unwrapped
    assert (robot.motor_gain, robot.side_ranger_deg) == (1.0, 45.0)


def test_an_empty_env_table_puts_the_reference_robot_in_the_runs_world(tmp_path: Path) -> None:
    profile = load_profile(_profile(tmp_path, ""), ENV_ID)
    merged = env_with_profile(ENV_ID, RECORDED, profile)
    world = {k: v for k, v in RECORDED.items() if k not in REFERENCE}
    assert world["collision"] == "continue" and world["max_episode_s"] == 2  # the run's world
    # every robot key the run set is the reference robot's; one it left out stays the default
    assert merged == {**world, **{k: REFERENCE[k] for k in RECORDED if k in REFERENCE}}
    assert merged["side_ranger_deg"] == 45.0 and merged["sensor_noise_m"] == 0.0
    assert merged["dead_band_range"] is None and merged["motor_gain_spread"] == 0.0


def test_robot_b_without_side_ranger_deg_gets_45_not_the_runs_25(tmp_path: Path) -> None:
    profile = load_profile(_profile(tmp_path, "motor_gain = 0.8\nmax_episode_s = 1\n"), ENV_ID)
    assert RECORDED["side_ranger_deg"] == 25.0
    merged = env_with_profile(ENV_ID, RECORDED, profile)
    assert merged["side_ranger_deg"] == 45.0 and merged["motor_gain"] == 0.8
    assert merged["latency_ticks"] == 0 and merged["arena_size_range_m"] == [3.0, 6.0]
    assert merged["max_episode_s"] == 1  # a world key the profile sets applies too
    assert make_env(ENV_ID, **merged).unwrapped.side_ranger_deg == 45.0


def test_another_envs_profile_is_laid_over_the_runs_kwargs(tmp_path: Path) -> None:
    header = HEADER.replace(ENV_ID, "CartPole-v1")
    profile = load_profile(_profile(tmp_path, "", header), "CartPole-v1")
    base = {"sutton_barto_reward": True}
    assert env_with_profile("CartPole-v1", base, profile) == base  # no robot keys: keeps all


def _run(tmp_path: Path, algo: str, env_kwargs: dict, robot_profile: dict | None = None) -> Path:
    """A run directory with only the config.json that ``--resume``'s checks read."""
    config = {"algo": algo, "env_id": ENV_ID, "seed": 0, "env_kwargs": env_kwargs}
    if robot_profile is not None:
        config["robot_profile"] = robot_profile
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


def test_resume_takes_a_dqn_runs_own_env_args_over_the_presets_env(tmp_path: Path) -> None:
    preset = preset_env_kwargs(ENV_ID, "dqn")
    assert preset  # the DQN preset has an env table for the robot env
    run = _run(tmp_path, "dqn", {**preset, "motor_gain": 0.7})
    _check_resume_env_args(run, {"motor_gain": 0.7})  # the original --env-arg: accepted
    with pytest.raises(UsageError) as refused:
        _check_resume_env_args(run, {"motor_gain": 0.8})
    assert "; motor_gain: recorded 0.7, given 0.8; a run keeps its env" in str(refused.value)
    with pytest.raises(UsageError, match=r"motor_gain: recorded 0\.7, given not set"):
        _check_resume_env_args(run, {})


def test_resume_takes_a_profile_runs_own_env_args(tmp_path: Path) -> None:
    angled = dict(read_profile(EXAMPLE).env)
    record = {"name": "angled", "env": angled}
    run = _run(tmp_path, "qlearning", {**angled, "motor_gain": 0.7, "max_episode_s": 2}, record)
    _check_resume_env_args(run, {"motor_gain": 0.7, "max_episode_s": 2.0})
    with pytest.raises(UsageError) as refused:
        _check_resume_env_args(run, {"max_episode_s": 2})  # motor_gain=0.7 left out
    message = str(refused.value)
    assert "\n" not in message and "motor_gain: recorded 0.7, given 0.6;" in message
    with pytest.raises(UsageError, match=r"latency_ticks: recorded 1, given 2 \(and 1 more: obs"):
        _check_resume_env_args(
            run, {"motor_gain": 0.7, "max_episode_s": 2, "latency_ticks": 2, "obstacles": 3}
        )
