"""The gym backend makes its env as ``eval-bundle`` does: with the keyword arguments the bundle's
training run recorded (``--env-arg``, a preset's env table), when the config names the bundle's
env; ``[hardware.gym] env_kwargs`` lays keys over them. Bad ones: one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest

from robot.config import EnvKwargs, GymConfig
from robot.control.clock import SimulatedClock
from shared.bundle import Bundle
from tests.trainer.sil_steps import ENV_ID, ROOT, Steps, abstract_bundle, gym_config
from trainer.cli.main import main as trainer_main
from trainer.export.bundle_eval import evaluate_bundle
from trainer.export.exporter import ExportOptions, export_run
from trainer.sil_hardware import GymHardware, open_gym
from trainer.training import TrainingRun

pytestmark = pytest.mark.trainer

MAPPING = (("left_distance_m", 0), ("front_distance_m", 1), ("right_distance_m", 2))
ALIAS = "sim2pi-test/StepsAlias-v0"  # the same env under another id: not the bundle's
gym.register(ALIAS, entry_point=Steps)


@pytest.fixture(autouse=True)
def _state_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The TFLite probe's verdicts go to a fresh directory, never to ~/.cache/sim2pi."""
    monkeypatch.setenv("SIM2PI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A bundle whose run recorded the env keyword argument length = 5."""
    return abstract_bundle(tmp_path_factory.mktemp("bundles") / "b", env_kwargs={"length": 5})


def opened(bundle: Bundle, env_id: str = ENV_ID, **config: object) -> GymHardware:
    return open_gym(GymConfig(env_id, MAPPING, **config), bundle, SimulatedClock().now)


def test_the_env_is_made_with_the_training_runs_env_kwargs(trained: Bundle) -> None:
    with opened(trained) as hardware:
        assert hardware.env.unwrapped.base_length == 5
        assert hardware.env.unwrapped.seeds == [1_000_000]
        assert "gym: env kwargs {'length': 5} (from the bundle's training run)" in (
            hardware.describe()
        )
    # "module:Id" names the bundle's env too.
    with opened(trained, "tests.trainer.sil_steps:" + ENV_ID) as hardware:
        assert hardware.env.unwrapped.base_length == 5


def test_the_configs_env_kwargs_are_laid_over_them_key_by_key(trained: Bundle) -> None:
    with opened(trained, env_kwargs={"length": 6}) as hardware:
        assert hardware.env.unwrapped.base_length == 6
        assert hardware.env_kwargs == EnvKwargs(
            {"length": 6}, {"length": "[hardware.gym] env_kwargs"}
        )
    with opened(trained, env_kwargs={"continuous": False}) as hardware:
        assert hardware.env.unwrapped.base_length == 5  # the run's, beside the config's key
        assert hardware.env_kwargs.sources == {
            "length": "the bundle's training run",
            "continuous": "[hardware.gym] env_kwargs",
        }


def test_another_env_than_the_bundles_gets_only_the_configs(trained: Bundle) -> None:
    with opened(trained, ALIAS) as hardware:
        assert hardware.env.unwrapped.base_length == 3
        assert "gym: no env kwargs (the env's defaults)" in hardware.describe()
    with opened(trained, ALIAS, env_kwargs={"length": 4}) as hardware:
        assert hardware.env.unwrapped.base_length == 4


def refusal(config: Path, caplog: pytest.LogCaptureFixture, command: str = "run") -> str:
    """``trainer sil <command>`` on ``config``: exit 2 and one error line, which is returned."""
    caplog.clear()
    assert trainer_main(["sil", command, "--config", str(config)]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "\n" not in errors[0], errors
    return errors[0]


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("env_kwargs = 3", "[hardware.gym.env_kwargs] expected a table, found int 3"),
        (
            'env_kwargs = { "1st" = 1 }',
            "[hardware.gym.env_kwargs.1st] expected a keyword argument name, found '1st'",
        ),
        (
            "env_kwargs = { nope = 1 }",
            "env kwargs nope=...: sim2pi-test/Steps-v0 has no keyword 'nope'; it accepts: "
            'continuous, length (the bundle\'s training run recorded {"length": 5}, '
            '[hardware.gym] env_kwargs sets {"nope": 1}; [hardware.gym] env_kwargs overrides '
            "a key)",
        ),
    ],
)
def test_bad_env_kwargs_are_one_line_and_exit_2(
    trained: Bundle,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    table: str,
    expected: str,
) -> None:
    config = gym_config(tmp_path / "robot.toml", trained, gym_extra=table + "\n")
    for command in ("run", "check"):
        assert expected in refusal(config, caplog, command)


def test_recorded_env_kwargs_the_env_refuses_say_where_they_came_from(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stale = abstract_bundle(tmp_path / "stale", env_kwargs={"colour": "red"})
    error = refusal(gym_config(tmp_path / "robot.toml", stale), caplog)
    assert "env kwargs colour=...: sim2pi-test/Steps-v0 has no keyword 'colour'" in error
    assert error.endswith(
        '(the bundle\'s training run recorded {"colour": "red"}; [hardware.gym] env_kwargs '
        "overrides a key)"
    )


# --- end to end: an ObstacleAvoid run trained with --env-arg --------------------------------

#: The run's env: 2 s episodes (40 steps) with weaker motors; the env's default is 60 s.
SHIFTED = {"max_episode_s": 2, "motor_gain": 0.6}
EXAMPLE = ROOT / "robot" / "examples" / "reference_gym.toml"


@pytest.fixture(scope="module")
def obstacle_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A tiny tabular Q-learning run of the robot env with ``SHIFTED``, exported (no TFLite)."""
    runs = tmp_path_factory.mktemp("runs")
    overrides = ["bins=3,3,3", "eval_every=0", "final_eval_episodes=1", "checkpoint_every=200"]
    training = TrainingRun.create(
        "sim2pi/ObstacleAvoid-v0", "qlearning", 0, overrides, runs / "run", 400, SHIFTED
    )
    try:
        assert training.run(progress=False)
    finally:
        training.close()
    options = ExportOptions(parity_states=300)
    return export_run(runs / "run", runs / "bundle", options, log=lambda _: None).bundle


def obstacle_config(tmp_path: Path, bundle: Bundle, gym_extra: str = "") -> Path:
    """The gym example on ``bundle``'s Q-table, on the evaluation seeds, without a supervisor
    (eval-bundle has none)."""
    text = EXAMPLE.read_text()
    text = text.replace('"../../tests/fixtures/obstacle_bundle"', json.dumps(str(bundle.path)))
    text = text.replace('policy = "tflite"', 'policy = "qtable"')
    text = text.replace("seed = 0 ", gym_extra + "# ")
    text = text.replace("[supervisor]\nenabled = true", "[supervisor]\nenabled = false")
    config = tmp_path / "robot.toml"
    config.write_text(text)
    return config


def sil_episodes(config: Path, tmp_path: Path, episodes: int) -> dict[str, list]:
    summary = tmp_path / "summary.json"
    argv = ["sil", "run", "--config", str(config), "--episodes", str(episodes)]
    assert trainer_main([*argv, "--summary-json", str(summary)]) == 0
    return json.loads(summary.read_text())["episodes"]


@pytest.mark.slow
def test_sil_of_a_bundle_trained_with_env_args_is_eval_bundles_world(
    obstacle_bundle: Bundle, tmp_path: Path
) -> None:
    with open_gym(
        GymConfig("trainer.envs:sim2pi/ObstacleAvoid-v0", MAPPING), obstacle_bundle, time0
    ) as hardware:
        robot = hardware.env.unwrapped
        assert (robot.max_steps, robot.motor_gain) == (40, 0.6)
    played = sil_episodes(obstacle_config(tmp_path, obstacle_bundle), tmp_path, 3)
    expected = evaluate_bundle(obstacle_bundle.path, 3).results["qtable"]
    assert played["returns"] == list(expected.returns)
    assert played["lengths"] == list(expected.lengths)
    assert max(played["lengths"]) <= 40
    # The config's table overrides a key: the env's default 60 s episodes, far longer.
    longer = obstacle_config(tmp_path, obstacle_bundle, "env_kwargs = { max_episode_s = 60 } ")
    assert max(sil_episodes(longer, tmp_path, 3)["lengths"]) > 40


def time0() -> float:
    return 0.0
