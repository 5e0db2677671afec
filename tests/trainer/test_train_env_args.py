"""``python -m trainer train --env-arg KEY=VALUE``: parsed, checked, recorded, used everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest
from test_trainer_cli import _trainer  # the same `python -m trainer` subprocess helper

from shared.reference_robot import ENV_ID
from trainer.cli.train import parse_env_args
from trainer.errors import UsageError
from trainer.evaluation import evaluate
from trainer.gymenv import make_checked_env
from trainer.hyperparams import preset_env_kwargs
from trainer.rundir import RunDir
from trainer.training import TrainingRun

pytestmark = pytest.mark.trainer

ROOT = Path(__file__).resolve().parents[2]
#: The benchmark's "angled" robot, in 2 s episodes (40 steps) to keep the runs tiny.
SHIFTED = {
    "motor_gain": 0.6,
    "side_ranger_deg": 25,
    "dead_band_range": [0.3, 0.3],
    "latency_ticks": 1,
    "max_episode_s": 2,
}
ENV_ARGS = [
    arg for key, value in SHIFTED.items() for arg in ("--env-arg", f"{key}={json.dumps(value)}")
]
TINY_QLEARNING = ["bins=3,3,3", "eval_every=0", "final_eval_episodes=3", "checkpoint_every=200"]


def _assert_shifted(env: gym.Env) -> None:
    robot = env.unwrapped
    assert (robot.motor_gain, robot.side_ranger_deg, robot.max_steps) == (0.6, 25.0, 40)


@pytest.fixture(scope="module")
def qlearning_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 400-step Q-learning run of the shifted robot."""
    path = tmp_path_factory.mktemp("envargs") / "run"
    training = TrainingRun.create(
        ENV_ID, "qlearning", 0, TINY_QLEARNING, path, 400, env_kwargs=SHIFTED
    )
    try:
        _assert_shifted(training.algorithm.env)
        _assert_shifted(training.eval_env)
        assert training.run(progress=False)
    finally:
        training.close()
    return path


def test_values_are_json_else_strings() -> None:
    items = ["motor_gain=0.6", "latency_ticks=1", "dead_band_range=[0.3, 0.3]", "flag=true"]
    parsed = parse_env_args([*items, "render_mode=rgb_array", "note=a=b", "empty="])
    assert parsed == {
        "motor_gain": 0.6,
        "latency_ticks": 1,
        "dead_band_range": [0.3, 0.3],
        "flag": True,
        "render_mode": "rgb_array",
        "note": "a=b",
        "empty": "",
    }
    assert parse_env_args([]) == {}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["motor_gain"], "--env-arg 'motor_gain': expected KEY=VALUE"),
        (["=0.6"], "--env-arg '=0.6': expected KEY=VALUE"),
        (["motor gain=0.6"], "expected KEY=VALUE with KEY a keyword argument name"),
        (["motor_gain=0.6", "motor_gain=0.7"], "--env-arg motor_gain: given twice"),
    ],
)
def test_malformed_items_are_refused(items: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_env_args(items)


def test_the_run_records_its_env_kwargs_and_evaluates_on_that_env(qlearning_run: Path) -> None:
    run = RunDir(qlearning_run)
    assert run.config["env_kwargs"] == SHIFTED
    _assert_shifted(run.make_env())
    summary = run.summary
    shifted = evaluate(run.make_env(), run.greedy_policy("best"), run.final_eval_seeds)
    assert summary["best"]["eval"] == shifted.as_dict()
    # The 40-step episodes are the shifted env's; the reference env's run up to 1200 steps.
    reference = evaluate(gym.make(ENV_ID), run.greedy_policy("best"), run.final_eval_seeds)
    assert max(shifted.lengths) <= 40 < max(reference.lengths)


def test_a_resumed_run_keeps_its_env(qlearning_run: Path) -> None:
    training = TrainingRun.resume(qlearning_run)
    try:
        _assert_shifted(training.algorithm.env)
        _assert_shifted(training.eval_env)
    finally:
        training.close()
    assert gym.make(ENV_ID).unwrapped.motor_gain == 1.0  # the registry is left as it was


def test_resume_accepts_the_runs_own_env_args(qlearning_run: Path) -> None:
    from trainer.cli.train import _check_resume_env_args

    _check_resume_env_args(qlearning_run, json.loads(json.dumps(SHIFTED)))  # no error
    with pytest.raises(UsageError, match="the run was trained with env_kwargs"):
        _check_resume_env_args(qlearning_run, {})


def test_resume_refuses_env_args_other_than_the_runs(qlearning_run: Path) -> None:
    result = _trainer("train", "--resume", str(qlearning_run), "--env-arg", "motor_gain=0.7")
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "--env-arg" in line and '"motor_gain": 0.6' in line and '"motor_gain": 0.7' in line


@pytest.mark.parametrize(
    ("env_args", "message"),
    [
        (
            ["motor_gain=0.6", "wheel_gain=2"],
            "--env-arg wheel_gain=...: sim2pi/ObstacleAvoid-v0 has no keyword 'wheel_gain'; "
            "it accepts: render_mode, control_period_s,",
        ),
        (
            ["motor_gain=3"],
            "--env-arg motor_gain=3: sim2pi/ObstacleAvoid-v0 refused it (motor_gain: expected in "
            "(0, 2], found 3); expected float (default 1.0), found 3",
        ),
        (["side_ranger_deg=fast"], '--env-arg side_ranger_deg="fast": '),
        (["dead_band_range=[0.3]"], "found [0.3]"),
        (["latency_ticks"], "--env-arg 'latency_ticks': expected KEY=VALUE"),
    ],
)
def test_bad_env_args_are_one_line_exit_2_before_training(
    env_args: list[str], message: str, tmp_path: Path
) -> None:
    flags = [arg for item in env_args for arg in ("--env-arg", item)]
    out = tmp_path / "run"
    result = _trainer("train", "--env", ENV_ID, "--algo", "dqn", *flags, "--out", str(out))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert not out.exists()


def test_an_env_without_the_keyword_lists_its_own(tmp_path: Path) -> None:
    result = _trainer(
        "train", "--env", "CartPole-v1", "--algo", "dqn", "--env-arg", "motor_gain=0.6",
        "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert result.returncode == 2
    assert (
        "CartPole-v1 has no keyword 'motor_gain'; it accepts: sutton_barto_reward" in result.stderr
    )


@pytest.mark.slow
def test_cli_train_and_export_use_the_env_args(tmp_path: Path) -> None:
    """The real commands: a 400-step DQN of the shifted robot, exported with a distilled table."""
    from trainer.export.rollouts import greedy_states

    run_dir, bundle_dir = tmp_path / "run", tmp_path / "bundle"
    dqn = ["learning_starts=100", "train_freq=50", "gradient_steps=2", "batch_size=32"]
    dqn += ["hidden_sizes=16", "eval_every=0", "final_eval_episodes=2", "jit_compile=false"]
    sets = [arg for item in dqn for arg in ("--set", item)]
    trained = _trainer(
        "train", "--env", ENV_ID, "--algo", "dqn", "--steps", "400", "--quiet", *sets, *ENV_ARGS,
        "--out", str(run_dir),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    # The preset's env table, with --env-arg laid over it key by key.
    expected_kwargs = {**preset_env_kwargs(ENV_ID, "dqn"), **SHIFTED}
    assert json.loads((run_dir / "config.json").read_text())["env_kwargs"] == expected_kwargs

    exported = _trainer(
        "export", str(run_dir), "--out", str(bundle_dir), "--qtable", "--parity-states", "300"
    )
    assert exported.returncode == 0, exported.stderr
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    assert manifest["training"]["config"]["env_kwargs"] == expected_kwargs
    # The export's rollouts ran on the shifted env: its episode count is that env's.
    run = RunDir(run_dir)
    act = run.greedy_policy("best")
    _, shifted_episodes = greedy_states(run.make_env(), act, 300)
    _, reference_episodes = greedy_states(gym.make(ENV_ID), act, 300)
    assert shifted_episodes != reference_episodes
    expected = f"collected 300 states from {shifted_episodes} greedy episodes"
    assert expected in exported.stdout + exported.stderr


def test_the_shipped_presets_env_tables_are_accepted_by_their_envs() -> None:
    from trainer.hyperparams import load_presets

    for env_id, per_algo in load_presets().items():
        for algo in per_algo:
            kwargs = preset_env_kwargs(env_id, algo)
            if kwargs:
                make_checked_env(env_id, kwargs, "preset").close()


def test_env_args_are_laid_over_the_presets_env_table(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from trainer import hyperparams

    preset = {"collision": "continue", "obstacles_range": [4, 12], "motor_gain": 0.8}
    monkeypatch.setattr(hyperparams, "preset_env_kwargs", lambda env_id, algo: dict(preset))
    training = TrainingRun.create(
        ENV_ID, "qlearning", 0, TINY_QLEARNING, tmp_path / "run", 40,
        env_kwargs={"motor_gain": 0.6, "max_episode_s": 2},
    )  # fmt: skip
    try:
        expected = {**preset, "motor_gain": 0.6, "max_episode_s": 2}
        assert training.env_kwargs == expected
        for env in (training.algorithm.env, training.eval_env):
            robot = env.unwrapped
            assert (robot.collision, robot.motor_gain, robot.max_steps) == ("continue", 0.6, 40)
    finally:
        training.close()
    assert RunDir(tmp_path / "run").config["env_kwargs"] == expected


def test_a_bad_presets_env_table_names_the_preset_not_env_arg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from trainer import hyperparams

    monkeypatch.setattr(hyperparams, "preset_env_kwargs", lambda env_id, algo: {"collision": 1})
    with pytest.raises(UsageError) as error:
        TrainingRun.create(ENV_ID, "qlearning", 0, TINY_QLEARNING, tmp_path / "run", 40)
    message = str(error.value)
    assert message.startswith("presets.toml ['sim2pi/ObstacleAvoid-v0'.qlearning.env] collision=1:")
    assert "collision: expected one of 'terminate', 'continue', found 1" in message
    assert "--env-arg" not in message
    assert not (tmp_path / "run").exists()
