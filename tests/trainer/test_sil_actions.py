"""Software in the loop with a bundle whose actions have no motor commands: it drives the gym
backend by action index and nothing else; episodes on fixed seeds, in the summary; simulated
time unless ``--real-time``. Fast, in-process (the end-to-end runs are in test_sil_envs.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot.config import GymConfig, LoopConfig
from robot.control.clock import MonotonicClock, SimulatedClock
from robot.control.decider import GreedyDecider
from robot.control.loop import ControlLoop
from robot.errors import HardwareError, SpecMismatchError
from robot.hardware.base import STOP, Hardware, Snapshot
from robot.inference.policy import load_policy
from shared.bundle import Bundle, read_bundle
from shared.spec import MotorCommand
from tests.trainer.sil_steps import ENV_ID, FIXTURE, ROOT, abstract_bundle
from tests.trainer.sil_steps import gym_config as steps_config
from trainer.cli.main import main as trainer_main
from trainer.sil_hardware import GymHardware

pytestmark = pytest.mark.trainer

MAPPING = (("left_distance_m", 0), ("front_distance_m", 1), ("right_distance_m", 2))


@pytest.fixture(autouse=True)
def _probe_cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The TFLite probe's verdicts go to a fresh directory, never to ~/.cache/sim2pi."""
    monkeypatch.setenv("SIM2PI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)


@pytest.fixture(scope="module")
def abstract(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """The fixture bundle with its actions' motor commands taken away (as CartPole's have none)."""
    return abstract_bundle(tmp_path_factory.mktemp("bundles") / "abstract")


def gym_config(tmp_path: Path, bundle: Bundle, extra: str = "") -> Path:
    return steps_config(tmp_path / "gym.toml", bundle, extra)


def sim_config(tmp_path: Path, bundle: Bundle) -> Path:
    example = (ROOT / "robot" / "examples" / "reference_sim.toml").read_text()
    config = tmp_path / "sim.toml"
    config.write_text(
        example.replace('"../../tests/fixtures/obstacle_bundle"', json.dumps(str(bundle.path)))
    )
    return config


def refusal(argv: list[str], caplog: pytest.LogCaptureFixture) -> str:
    """Run the robot's CLI (with the gym backend, as `trainer sil` does): exit 2, one error."""
    caplog.clear()
    with caplog.at_level("INFO"):
        assert trainer_main(["sil", *argv]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "\n" not in errors[0], errors
    return errors[0]


def test_check_refuses_exactly_what_run_refuses(
    abstract: Bundle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # On a robot's backend: the motors cannot be driven by a bundle without motor commands.
    config = str(sim_config(tmp_path, abstract))
    run = refusal(["run", "--config", config, "--max-ticks", "5"], caplog)
    assert refusal(["check", "--config", config], caplog) == run
    assert "[hardware] backend = 'sim': expected a bundle whose actions have motor commands" in run
    assert "without motor commands, so they cannot drive motors" in run
    assert "backend = 'gym', python -m trainer sil run" in run
    # Nor can the learner learn on them, on the gym backend either.
    learning = str(gym_config(tmp_path, abstract, "[learning]\nenabled = true\n"))
    run = refusal(["run", "--config", learning, "--max-ticks", "5"], caplog)
    assert refusal(["check", "--config", learning], caplog) == run
    assert "[learning] (or --learn): on-robot learning needs actions with motor commands" in run


def test_check_accepts_it_on_the_gym_backend(
    abstract: Bundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert trainer_main(["sil", "check", "--config", str(gym_config(tmp_path, abstract))]) == 0
    out = capsys.readouterr().out
    assert "have no motor commands: they drive the gym world by action index" in out
    assert "supervisor n/a" in out and "check    all well" in out


def test_the_loop_refuses_it_on_a_robots_backend(abstract: Bundle) -> None:
    class Motors(Hardware):
        name = "gpio"

        def snapshot(self) -> Snapshot:
            return Snapshot((1.0, 1.0, 1.0), (0.0, 0.0, 0.0))

        def drive(self, command: MotorCommand) -> None: ...
        def stop(self) -> None: ...
        def close(self) -> None: ...

    decider = GreedyDecider(load_policy(abstract, "qtable"), [STOP] * 5)
    with pytest.raises(SpecMismatchError, match="cannot drive the gpio backend's motors"):
        ControlLoop(Motors(), decider, abstract.spec, LoopConfig())


def test_the_loop_drives_the_env_by_action_index(abstract: Bundle) -> None:
    clock = SimulatedClock()
    hardware = GymHardware(GymConfig(ENV_ID, MAPPING, seed=7), abstract.spec, clock=clock.now)
    policy = load_policy(abstract, "qtable")
    with hardware:
        loop = ControlLoop(
            hardware, GreedyDecider(policy, [STOP] * 5), abstract.spec, LoopConfig(), clock=clock
        )
        summary = loop.run(max_episodes=3)
        env = hardware.env.unwrapped
    expected = int(np.argmax(policy.decide(np.array([1.5, 1.5, 1.0], np.float32)).q_values))
    assert env.actions[0] == expected and all(isinstance(a, int) for a in env.actions)
    assert env.seeds == [7, 8, 9, 10]  # episode i on seed + i; the fourth has just begun
    episodes = summary["episodes"]
    assert episodes["seeds"] == [7, 8, 9] and episodes["lengths"] == [4, 5, 3]
    assert episodes["returns"] == [
        float(sum(env.actions[:4])),
        float(sum(env.actions[4:9])),
        float(sum(env.actions[9:12])),
    ]
    assert summary["exit_reason"] == "max_episodes (3)" and summary["ticks"] == 12
    assert clock.now() == pytest.approx(11 / 20)  # simulated: 12 ticks at 20 Hz


def test_commands_do_not_drive_it_and_a_box_env_is_refused(abstract: Bundle) -> None:
    hardware = GymHardware(GymConfig(ENV_ID, MAPPING), abstract.spec, clock=lambda: 0.0)
    with hardware:
        hardware.drive(STOP)  # a stop pauses the world
        with pytest.raises(HardwareError, match="drive the env by action index"):
            hardware.drive(MotorCommand(0.5, 0.5))
        with pytest.raises(HardwareError, match="action 5 is outside"):
            hardware.drive_action(5)
        assert hardware.steps == 0 and hardware.env.unwrapped.seeds == [1_000_000]
    with pytest.raises(SpecMismatchError, match=r"drive a Discrete\(5\) env by index, found Box"):
        GymHardware(GymConfig("sim2pi-test/StepsBox-v0", MAPPING), abstract.spec, clock=time0)


def time0() -> float:
    return 0.0


def test_sil_runs_on_simulated_time_unless_real_time(
    abstract: Bundle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def never(self: Any, deadline_s: float, wake: Any) -> None:
        raise AssertionError("software in the loop waited on the wall clock")

    monkeypatch.setattr(MonotonicClock, "wait_until", never)
    config = str(gym_config(tmp_path, abstract))
    summary = tmp_path / "summary.json"
    argv = ["sil", "run", "--config", config, "--episodes", "3"]
    with caplog.at_level("INFO", logger="trainer.sil_hardware"):
        assert trainer_main([*argv, "--summary-json", str(summary)]) == 0
    episodes = json.loads(summary.read_text())["episodes"]
    seeds = [1_000_000, 1_000_001, 1_000_002]  # the evaluation seeds: no [hardware.gym] seed
    assert episodes["seeds"] == seeds and episodes["lengths"] == [3 + s % 3 for s in seeds]
    said = [r.getMessage() for r in caplog.records if "gym episode" in r.getMessage()]
    assert [line.split(" ended after ")[1].split(" steps")[0] for line in said] == ["4", "5", "3"]

    waits: list[float] = []
    monkeypatch.setattr(MonotonicClock, "wait_until", lambda self, d, wake: waits.append(d))
    assert trainer_main([*argv, "--real-time", "--summary-json", str(summary)]) == 0
    assert len(waits) == json.loads(summary.read_text())["ticks"] == 12


def test_episodes_and_real_time_are_for_the_gym_backend_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = str(sim_config(tmp_path, read_bundle(FIXTURE)))
    for flag in (["--episodes", "2"], ["--real-time"]):
        error = refusal(["run", "--config", config, *flag], caplog)
        assert error.startswith(f"{flag[0]}: expected [hardware] backend = 'gym'")
