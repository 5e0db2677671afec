"""``--robot-profile`` on real tiny runs: train, resume, eval, export and eval-bundle."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
from test_robot_profile_env import REFERENCE  # the simulator's reference robot
from test_trainer_cli import _trainer  # the same `python -m trainer` subprocess helper

from robot.inference import load_policy
from shared.bundle import read_bundle
from shared.reference_robot import ENV_ID
from trainer.cli.main import main
from trainer.evaluation import eval_seeds, evaluate
from trainer.export.rollouts import greedy_states
from trainer.gymenv import make_env
from trainer.robot_profile import EXAMPLE, read_profile
from trainer.rundir import RunDir

pytestmark = pytest.mark.trainer

TINY_QLEARNING = ["bins=3,3,3", "eval_every=0", "final_eval_episodes=3", "checkpoint_every=200"]
SETS = [arg for item in TINY_QLEARNING for arg in ("--set", item)]
ANGLED_ENV = dict(read_profile(EXAMPLE).env)
#: Another robot for evaluation: the simulator's motors, side rangers at 60°, 1 s episodes.
OTHER = (
    '[profile]\nformat = 1\nname = "other"\nenv_id = "sim2pi/ObstacleAvoid-v0"\n'
    "[env]\nmotor_gain = 1.0\nside_ranger_deg = 60\nmax_episode_s = 1\n"
)


def _train(out: Path, profile: Path, *more: str) -> int:
    argv = ["train", "--algo", "qlearning", "--steps", "400", "--quiet", *SETS]
    return main([*argv, "--robot-profile", str(profile), *more, "--out", str(out)])


def _side_ranger_deg(env: object) -> float:
    """The left ranger's angle off ahead on the env's world, after a reset (degrees)."""
    env.reset(seed=0)  # type: ignore[attr-defined]
    world = env.unwrapped.world  # type: ignore[attr-defined]
    return round(math.degrees(max(s.angle_rad for s in world.sensors)), 9)


@pytest.fixture(scope="module")
def angled_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 400-step Q-learning run for the shipped angled profile, with motor_gain overridden to
    0.7 and 2 s episodes by --env-arg, trained without --env; and what it printed on stderr."""
    path = tmp_path_factory.mktemp("profile") / "run"
    err = io.StringIO()  # a module-scoped fixture cannot take capsys
    with contextlib.redirect_stderr(err):
        code = _train(path, EXAMPLE, "--env-arg", "motor_gain=0.7", "--env-arg", "max_episode_s=2")
    assert code == 0, err.getvalue()
    return path, err.getvalue()


def test_the_profiles_env_reaches_the_run_and_its_env(angled_run: tuple[Path, str]) -> None:
    path, _ = angled_run
    run = RunDir(path)
    assert run.env_id == ENV_ID  # from the profile: no --env was given
    assert run.config["env_kwargs"] == {**ANGLED_ENV, "motor_gain": 0.7, "max_episode_s": 2}
    assert run.robot_profile == {
        "path": str(EXAMPLE),
        "sha256": hashlib.sha256(EXAMPLE.read_bytes()).hexdigest(),
        "name": "angled",
        "source": "hand",
        "env": ANGLED_ENV,
    }
    env = run.make_env()
    assert _side_ranger_deg(env) == 25.0
    drive = env.unwrapped.world.drive
    assert (drive.left_gain, drive.right_gain, drive.dead_band) == (0.7, 0.7, 0.3)
    assert env.unwrapped.max_steps == 40


def test_an_env_arg_overriding_the_profile_says_so_in_one_line(
    angled_run: tuple[Path, str],
) -> None:
    _, err = angled_run
    notes = [line for line in err.splitlines() if "overrides" in line]
    assert notes == [
        f"--env-arg overrides robot profile 'angled' ({EXAMPLE}): motor_gain=0.7 (profile: 0.6)"
    ]  # max_episode_s is not the profile's: no note


def test_resume_takes_the_same_profile_and_refuses_another(
    angled_run: tuple[Path, str], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(angled_run[0], run)
    other = tmp_path / "other.toml"
    other.write_text(OTHER)
    for profile, message in [
        (other, "the run was trained with robot profile 'angled'"),
        (EXAMPLE, None),
    ]:
        result = _trainer("train", "--resume", str(run), "--robot-profile", str(profile))
        if message is None:
            assert result.returncode == 0, result.stderr
            continue
        assert result.returncode == 2, result.stderr
        line = result.stderr.strip()
        assert "\n" not in line and "Traceback" not in line
        assert message in line and "(another file); a run keeps its env" in line
        assert f"found sha256 {hashlib.sha256(other.read_bytes()).hexdigest()[:12]}" in line


def test_resume_takes_the_original_command_line(
    angled_run: tuple[Path, str], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(angled_run[0], run)
    argv = ["train", "--resume", str(run), "--quiet", "--robot-profile", str(EXAMPLE)]
    assert main([*argv, "--env-arg", "motor_gain=0.7", "--env-arg", "max_episode_s=2"]) == 0


def test_resume_refuses_a_changed_profile_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    profile = tmp_path / "robot.toml"
    profile.write_text(EXAMPLE.read_text())
    assert _train(tmp_path / "run", profile, "--env-arg", "max_episode_s=2") == 0
    profile.write_text(EXAMPLE.read_text().replace("latency_ticks = 1 ", "latency_ticks = 2 "))
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "run"), "--robot-profile", str(profile)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    recorded = RunDir(tmp_path / "run").robot_profile
    assert recorded is not None and recorded["env"]["latency_ticks"] == 1
    assert f"the run was trained with robot profile 'angled' ({profile}, sha256 " in err
    assert f"{recorded['sha256'][:12]}…), found sha256 " in err
    assert "(the file changed since); a run keeps its env" in err


def test_resume_refuses_a_profile_for_a_run_trained_without(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["train", "--env", ENV_ID, "--algo", "qlearning", "--steps", "40", "--quiet", *SETS]
    assert main([*argv, "--env-arg", "max_episode_s=1", "--out", str(tmp_path / "run")]) == 0
    assert "robot_profile" not in RunDir(tmp_path / "run").config
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "run"), "--robot-profile", str(EXAMPLE)]) == 2
    assert "the run was trained without a robot profile" in capsys.readouterr().err


def _other_profile(tmp_path: Path) -> Path:
    path = tmp_path / "other.toml"
    path.write_text(OTHER)
    return path


def _other_env_kwargs(run: RunDir) -> dict[str, object]:
    """The run's env with its robot replaced by the ``other`` profile's: the robot keys the run
    set and ``other`` leaves out are the simulator's (angled's noise, latency, dead band go)."""
    recorded = run.config["env_kwargs"]
    reference = {key: value for key, value in REFERENCE.items() if key in recorded}
    return {**recorded, **reference, **tomllib.loads(OTHER)["env"]}


def test_eval_runs_in_the_profiles_env(
    angled_run: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = RunDir(angled_run[0])
    profile = _other_profile(tmp_path)
    capsys.readouterr()
    assert main(["eval", str(run.path), "--episodes", "3", "--robot-profile", str(profile)]) == 0
    out = capsys.readouterr().out.splitlines()
    expected_kwargs = _other_env_kwargs(run)
    assert out[0] == (
        f"robot profile 'other' ({profile}): evaluating in env_kwargs "
        f"{json.dumps(expected_kwargs)} instead of the run's {json.dumps(run.config['env_kwargs'])}"
    )
    env = make_env(ENV_ID, **expected_kwargs)
    assert _side_ranger_deg(env) == 60.0
    result = evaluate(env, run.greedy_policy("best"), eval_seeds(3))
    s = result.as_dict()
    assert out[1] == (
        f"{ENV_ID} qlearning best: mean {s['mean']:.2f} std {s['std']:.2f} min {s['min']:.2f} "
        f"max {s['max']:.2f} over 3 episodes"
    )
    assert max(result.lengths) <= 20  # the profile's 1 s episodes, not the run's 2 s


def test_eval_with_an_empty_profile_is_the_reference_robot(
    angled_run: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = RunDir(angled_run[0])
    empty = tmp_path / "empty.toml"
    empty.write_text(OTHER.partition("[env]")[0] + "[env]\n")
    capsys.readouterr()
    assert main(["eval", str(run.path), "--episodes", "1", "--robot-profile", str(empty)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    expected = {**run.config["env_kwargs"], **{k: REFERENCE[k] for k in ANGLED_ENV}}
    assert expected["side_ranger_deg"] == 45.0 and expected["latency_ticks"] == 0
    assert f"evaluating in env_kwargs {json.dumps(expected)} instead of" in line


def test_export_and_eval_bundle_run_in_the_profiles_env(
    angled_run: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = RunDir(angled_run[0])
    profile, bundle_dir = _other_profile(tmp_path), tmp_path / "bundle"
    capsys.readouterr()
    argv = ["export", str(run.path), "--out", str(bundle_dir), "--parity-states", "200"]
    assert main([*argv, "--robot-profile", str(profile)]) == 0
    out = capsys.readouterr().out
    assert "rollouts, parity and return checks run in env_kwargs" in out.splitlines()[0]
    expected_kwargs = _other_env_kwargs(run)
    _, episodes = greedy_states(make_env(ENV_ID, **expected_kwargs), run.greedy_policy("best"), 200)
    _, run_episodes = greedy_states(run.make_env(), run.greedy_policy("best"), 200)
    assert episodes >= 10 and episodes != run_episodes  # 1 s episodes against the run's 2 s
    assert f"collected 200 states from {episodes} greedy episodes" in out
    manifest = read_bundle(bundle_dir).manifest
    assert manifest["export"]["eval_env"]["env_kwargs"] == expected_kwargs
    assert manifest["export"]["eval_env"]["robot_profile"]["name"] == "other"
    assert manifest["training"]["config"]["env_kwargs"] == run.config["env_kwargs"]

    # eval-bundle: in the training env unless told, saying where the export's checks ran.
    assert main(["eval-bundle", str(bundle_dir), "--episodes", "2"]) == 0
    plain = capsys.readouterr().out.splitlines()
    assert plain[0].startswith("(the export's checks ran with robot profile 'other'")
    assert (
        main(["eval-bundle", str(bundle_dir), "--episodes", "2", "--robot-profile", str(profile)])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("robot profile 'other' (") and "evaluating in env_kwargs" in lines[0]
    qtable = load_policy(read_bundle(bundle_dir), "qtable")

    def act(obs: np.ndarray) -> int:
        return qtable.decide(np.atleast_1d(np.asarray(obs, np.float32))).action_index

    expected = evaluate(make_env(ENV_ID, **expected_kwargs), act, eval_seeds(2)).as_dict()
    row = next(line for line in lines if line.strip().startswith("qtable"))
    assert row.split()[1:5] == [f"{expected[k]:.2f}" for k in ("mean", "std", "min", "max")]
    assert float(row.split()[5]) <= 20  # the mean length: the profile's 1 s episodes


@pytest.mark.slow
def test_cli_dqn_with_a_profile_and_its_int8_return_gate_in_another(tmp_path: Path) -> None:
    """The real commands: a 400-step DQN for the angled profile (laid over the preset's env
    table), exported with a hidden-int8 model whose return gate runs in another profile's env."""
    from trainer.hyperparams import preset_env_kwargs

    run_dir, bundle_dir, profile = tmp_path / "run", tmp_path / "bundle", _other_profile(tmp_path)
    dqn = ["learning_starts=100", "train_freq=50", "gradient_steps=2", "batch_size=32"]
    dqn += ["hidden_sizes=16,16", "eval_every=0", "final_eval_episodes=2", "jit_compile=false"]
    sets = [arg for item in dqn for arg in ("--set", item)]
    trained = _trainer(
        "train", "--env", ENV_ID, "--algo", "dqn", "--steps", "400", "--quiet", *sets,
        "--robot-profile", str(EXAMPLE), "--env-arg", "max_episode_s=2", "--out", str(run_dir),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    run = RunDir(run_dir)
    # preset env table ← profile ← --env-arg: the profile's noise replaces the preset's 0.02.
    expected = {**preset_env_kwargs(ENV_ID, "dqn"), **ANGLED_ENV, "max_episode_s": 2}
    assert run.config["env_kwargs"] == expected and expected["sensor_noise_m"] == 0.03
    assert run.robot_profile is not None and run.robot_profile["name"] == "angled"

    exported = _trainer(
        "export", str(run_dir), "--out", str(bundle_dir), "--int8", "--int8-mode", "hidden-int8",
        "--return-episodes", "2", "--parity-states", "300", "--robot-profile", str(profile),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith(f"robot profile 'other' ({profile}): rollouts, parity")
    bundle = read_bundle(bundle_dir)
    eval_kwargs = _other_env_kwargs(run)
    assert bundle.manifest["export"]["eval_env"]["env_kwargs"] == eval_kwargs
    returns = bundle.manifest["parity"]["int8"]["returns"]
    float32 = load_policy(bundle, "tflite")

    def act(obs: np.ndarray) -> int:
        return float32.decide(np.atleast_1d(np.asarray(obs, np.float32))).action_index

    in_profile_env = evaluate(make_env(ENV_ID, **eval_kwargs), act, eval_seeds(2))
    assert returns["float32_mean"] == in_profile_env.as_dict()["mean"]
    assert max(in_profile_env.lengths) <= 20
