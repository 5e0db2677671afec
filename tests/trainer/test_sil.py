"""Software in the loop: a Gymnasium env as the world behind the robot's hardware interface."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from robot.config import GymConfig, LoopConfig
from robot.control.clock import SimulatedClock
from robot.control.decider import GreedyDecider
from robot.control.loop import ControlLoop
from robot.errors import ConfigError, SpecMismatchError
from robot.inference.policy import load_policy
from shared.bundle import Bundle, read_bundle
from shared.spec import MotorCommand
from trainer.cli.main import main as trainer_main
from trainer.sil_hardware import GymHardware

pytestmark = pytest.mark.trainer

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "obstacle_bundle"
MAPPING = (("left_distance_m", 0), ("front_distance_m", 1), ("right_distance_m", 2))


class Corridor(gym.Env):
    """A wall ahead that comes closer while driving forward; spinning turns it away."""

    def __init__(self, continuous: bool = False, nan_after: int | None = None) -> None:
        self.observation_space = gym.spaces.Box(0.0, 4.0, shape=(4,), dtype=np.float32)
        self.action_space = (
            gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
            if continuous
            else gym.spaces.Discrete(5)
        )
        self.nan_after = nan_after
        self.actions: list[Any] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.front = 1.5
        return self._obs(), {}

    def _obs(self) -> np.ndarray:
        obs = np.array([1.5, self.front, 1.5, 0.0], dtype=np.float32)
        if self.nan_after is not None and len(self.actions) >= self.nan_after:
            obs[1] = np.nan
        return obs

    def step(self, action: Any):
        self.actions.append(action)
        forward = action == 0 if np.ndim(action) == 0 else float(np.mean(action)) > 0.5
        self.front = max(0.05, self.front - 0.1) if forward else 1.5
        return self._obs(), 1.0, False, len(self.actions) % 50 == 0, {}


gym.register("sim2pi-test/Corridor-v0", entry_point=Corridor)


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    """The committed fixture bundle (reference robot spec, float32 + int8 models, Q-table)."""
    return read_bundle(FIXTURE)


@pytest.fixture(autouse=True)
def _probe_cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The TFLite probe's verdicts go to a fresh directory, never to ~/.cache/sim2pi."""
    monkeypatch.setenv("SIM2PI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)


def make(bundle: Bundle, **kwargs: Any) -> tuple[GymHardware, SimulatedClock]:
    clock = SimulatedClock()
    env_id = "sim2pi-test/Corridor-v0"
    if kwargs:
        env_id = "sim2pi-test/Corridor" + "".join(f"-{k}{v}" for k, v in kwargs.items()) + "-v0"
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=Corridor, kwargs=kwargs)
    return GymHardware(GymConfig(env_id, MAPPING, seed=1), bundle.spec, clock=clock.now), clock


def test_the_policy_avoids_the_wall_in_the_env(bundle: Bundle) -> None:
    hardware, clock = make(bundle)
    with hardware:
        loop = ControlLoop(
            hardware,
            GreedyDecider.for_spec(load_policy(bundle, "tflite"), bundle.spec),
            bundle.spec,
            LoopConfig(),
            clock=clock,
        )
        summary = loop.run(max_ticks=60)
        env = hardware.env.unwrapped
        assert summary["decisions"] == 60 == hardware.steps
        assert 0 in env.actions and any(a in (3, 4) for a in env.actions)  # forward, then spins
        assert hardware.episodes == 1  # truncated at 50 steps and reset
    hardware.close()


def test_invalid_observations_stop_the_world(bundle: Bundle) -> None:
    hardware, clock = make(bundle, nan_after=5)
    with hardware:
        loop = ControlLoop(
            hardware,
            GreedyDecider.for_spec(load_policy(bundle, "qtable"), bundle.spec),
            bundle.spec,
            LoopConfig(),
            clock=clock,
        )
        summary = loop.run(max_ticks=20)
    assert summary["decisions"] == 5
    assert summary["stops"]["invalid"] == {"events": 1, "ticks": 15}


def test_a_box_action_space_gets_the_duties(bundle: Bundle) -> None:
    hardware, _ = make(bundle, continuous=True)
    with hardware:
        hardware.drive(MotorCommand(-0.6, 0.6))
        np.testing.assert_allclose(hardware.env.unwrapped.actions[-1], [-0.6, 0.6])


def test_a_discrete_env_drives_the_nearest_action_for_a_manoeuvre(bundle: Bundle, caplog) -> None:
    """The supervisor's recovery drives duties that are no action of a Discrete env: the
    nearest action stands in (said once in the log), and a stop steps nothing."""
    hardware, _ = make(bundle)
    with hardware, caplog.at_level("INFO", logger="trainer.sil_hardware"):
        actions = hardware.env.unwrapped.actions
        hardware.drive(MotorCommand(0.0, 0.0))
        assert actions == [] and hardware.steps == 0
        hardware.drive(MotorCommand(-0.5, 0.55))  # a turn to the left: spin_left is nearest
        hardware.drive(MotorCommand(-0.5, 0.55))
        hardware.drive(bundle.spec.actions[0].motor)
        assert actions == [3, 3, 0] and hardware.steps == 3
    lines = [r.getMessage() for r in caplog.records if "none of the env's actions" in r.message]
    assert len(lines) == 1 and lines[0].endswith("driving the nearest, spin_left")


def test_mismatched_action_space_is_refused(bundle: Bundle) -> None:
    with pytest.raises(SpecMismatchError, match=r"the bundle's 5 actions .*, found Discrete\(2\)"):
        GymHardware(GymConfig("CartPole-v1", MAPPING), bundle.spec, clock=lambda: 0.0)


def test_unknown_env_id_says_how_to_name_one(bundle: Bundle) -> None:
    with pytest.raises(ConfigError, match="cannot make 'nope/Nothing-v0'"):
        GymHardware(GymConfig("nope/Nothing-v0", MAPPING), bundle.spec, clock=lambda: 0.0)


EXAMPLE = Path(__file__).resolve().parents[2] / "robot" / "examples" / "reference_gym.toml"


def test_the_example_runs_through_the_trainer_cli(tmp_path: Path) -> None:
    # The robot's own CLI, handed over to by `python -m trainer sil`, on the simulator as a
    # Gymnasium env: the fixture's policy drives it for 40 ticks, then the summary is written.
    config = tmp_path / "robot.toml"
    config.write_text(
        EXAMPLE.read_text().replace(
            '"../../tests/fixtures/obstacle_bundle"', json.dumps(str(FIXTURE))
        )
    )
    summary = tmp_path / "summary.json"
    args = ["sil", "run", "--config", str(config), "--max-ticks", "200"]
    assert trainer_main([*args, "--summary-json", str(summary)]) == 0
    figures = json.loads(summary.read_text())
    assert figures["errors"] == 0 and figures["ticks"] == 200
    # The supervisor runs in software in the loop too (its manoeuvres are not decisions).
    assert set(figures["supervisor"]["takeovers"]) == {"contact", "no_progress", "oscillation"}
    assert 100 < figures["decisions"] <= 200


def test_check_through_the_trainer_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "robot.toml"
    config.write_text(
        EXAMPLE.read_text().replace(
            '"../../tests/fixtures/obstacle_bundle"', json.dumps(str(FIXTURE))
        )
    )
    assert trainer_main(["sil", "check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "hardware gym: trainer.envs:sim2pi/ObstacleAvoid-v0" in out
    assert "check    all well" in out


def test_sil_without_arguments_prints_the_robot_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        trainer_main(["sil"])
    assert exit_info.value.code == 0
    assert "run" in capsys.readouterr().out
