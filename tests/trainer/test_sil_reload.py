"""SIGHUP in software in the loop: the gym env stays open, so a new bundle must fit the world
that was made for the running one (its actions, its env keyword arguments); a bundle without
motor commands reloads there like any other. On a robot's backend the robot's rules stay."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from robot.config import load_config
from robot.errors import SpecMismatchError
from robot.runtime.reload import prepare_replacement
from shared.bundle import Bundle, read_bundle
from tests.robot.cli.robot_process import RobotRun
from tests.trainer.sil_steps import FIXTURE, IMPORTED_ENV_ID, ROOT, abstract_bundle, gym_config

pytestmark = pytest.mark.trainer

OTHER_NAMES = ("ahead", "back", "left", "right", "wait")


@pytest.fixture(autouse=True)
def _state_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The TFLite probe's verdicts go to a fresh directory, never to ~/.cache/sim2pi."""
    monkeypatch.setenv("SIM2PI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)


def reload(path: Path, running: Bundle, new: Bundle, gym_extra: str = "") -> Bundle:
    """``prepare_replacement`` of the config at ``path`` rewritten from ``running`` to ``new``."""
    current = load_config(gym_config(path, running, gym_extra=gym_extra))
    gym_config(path, new, gym_extra=gym_extra)
    _, _, bundle = prepare_replacement(current, running, path, None)
    return bundle


def test_a_bundle_without_motor_commands_reloads_on_the_gym_backend(tmp_path: Path) -> None:
    running, new = abstract_bundle(tmp_path / "a"), abstract_bundle(tmp_path / "b")
    assert reload(tmp_path / "robot.toml", running, new).path == new.path


def test_other_actions_are_refused_in_one_line_naming_both(tmp_path: Path) -> None:
    running = abstract_bundle(tmp_path / "a")
    other = abstract_bundle(tmp_path / "b", names=OTHER_NAMES)
    with pytest.raises(SpecMismatchError) as refused:
        reload(tmp_path / "robot.toml", running, other)
    message = str(refused.value)
    assert "\n" not in message and "cannot drive a robot" not in message
    assert f"the new bundle {other.path} has actions {list(OTHER_NAMES)}" in message
    assert "the gym world sim2pi-test/Steps-v0 was made for the running bundle's" in message
    assert str(list(running.spec.actions.names)) in message
    assert message.endswith("restart `python -m trainer sil run` to change it")


def test_other_env_kwargs_are_refused_unless_the_config_sets_them(tmp_path: Path) -> None:
    running = abstract_bundle(tmp_path / "a", env_kwargs={})
    longer = abstract_bundle(tmp_path / "b", env_kwargs={"length": 4})
    path = tmp_path / "robot.toml"
    with pytest.raises(SpecMismatchError) as refused:
        reload(path, running, longer)
    message = str(refused.value)
    assert "was trained with env kwargs {'length': 4}, the gym world" in message
    assert "was made with {}; set [hardware.gym] env_kwargs" in message
    # The config's own table is laid over both: one world, so the reload goes ahead.
    assert reload(path, running, longer, "env_kwargs = { length = 4 }\n").path == longer.path


def test_a_robots_backend_refuses_it_by_the_one_rule(tmp_path: Path) -> None:
    # The robot's rule, as run and check say it (compose.check_actions), not the decider's.
    example = (ROOT / "robot" / "examples" / "reference_sim.toml").read_text()
    fixture = json.dumps(str(FIXTURE))
    path = tmp_path / "sim.toml"
    path.write_text(example.replace('"../../tests/fixtures/obstacle_bundle"', fixture))
    current = load_config(path)
    abstract = abstract_bundle(tmp_path / "abstract")
    path.write_text(path.read_text().replace(fixture, json.dumps(str(abstract.path))))
    with pytest.raises(SpecMismatchError, match="expected a bundle whose actions have motor"):
        prepare_replacement(current, read_bundle(FIXTURE), path, None)


class SilRun(RobotRun):
    """``python -m trainer sil run --real-time`` in a session of its own, its log read as it
    comes (``tests/robot/cli/robot_process.RobotRun`` with the trainer's command)."""

    def __init__(self, config: Path, summary: Path, state_dir: Path) -> None:
        extra = ("--real-time", "--summary-json", str(summary))
        super().__init__(config, *extra, state_dir=state_dir, command=("trainer", "sil", "run"))

    def wait_for_line(self, text: str, timeout_s: float = 60.0) -> str:
        """The first log line that contains ``text``, once it has come."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = [line for line in self.lines if text in line]
            if found:
                return found[0]
            assert self.process.poll() is None, "".join(self.lines)
            assert time.monotonic() < deadline, f"no {text!r} in {''.join(self.lines)}"
            time.sleep(0.01)

    def finish(self, timeout_s: float = 30.0) -> tuple[int, str]:
        """SIGTERM, then its exit code and its whole log."""
        try:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=timeout_s)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._reader.join(timeout=5.0)
        return self.process.returncode, "".join(self.lines)


@pytest.mark.slow
def test_sighup_in_a_real_time_sil_run(tmp_path: Path) -> None:
    """A real child process: SIGHUP to a bundle with the same actions switches; to one with
    other actions is refused with one clear line, and the running one drives on."""
    first, second = abstract_bundle(tmp_path / "first"), abstract_bundle(tmp_path / "second")
    other = abstract_bundle(tmp_path / "other", names=OTHER_NAMES)
    config = gym_config(tmp_path / "robot.toml", first, env_id=IMPORTED_ENV_ID)
    summary = tmp_path / "summary.json"
    run = SilRun(config, summary, tmp_path / "state")
    run.wait_for_line("first valid decision")
    gym_config(config, second, env_id=IMPORTED_ENV_ID)
    run.process.send_signal(signal.SIGHUP)
    run.wait_for_line("reloaded: now running bundle second, policy qtable")
    gym_config(config, other, env_id=IMPORTED_ENV_ID)
    run.process.send_signal(signal.SIGHUP)
    refused = run.wait_for_line("reload refused")
    assert "still running bundle second, policy qtable" in refused
    assert f"has actions {list(OTHER_NAMES)}" in refused and "cannot drive" not in refused
    # The running bundle drives on after the refusal: one more episode ends.
    before = sum("gym episode" in line for line in run.lines)
    deadline = time.monotonic() + 30.0
    while sum("gym episode" in line for line in run.lines) <= before:
        assert time.monotonic() < deadline, "".join(run.lines)
        time.sleep(0.05)
    code, log = run.finish()
    assert code == 0, log
    for bad in ("Traceback", "CRITICAL", "Exception ignored"):
        assert bad not in log
    assert [line for line in log.splitlines() if "ERROR" in line] == [refused.rstrip("\n")]
    episodes = json.loads(summary.read_text())["episodes"]
    assert episodes["count"] >= 1 and episodes["seeds"][0] == 1_000_000
