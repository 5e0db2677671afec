"""Where a run writes is proven writable before anything moves: ``robot check`` reports each place
(a PROBLEM with the fix), ``robot run`` refuses with one line and exit 2 before the backend opens.

Unwritable places that stay unwritable for root (CI runs as root, which ignores permission bits):
``/proc`` (no file can be created there), a regular file where a directory should be, a path
under a regular file, a FIFO, a directory where the telemetry file should be.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from robot.cli import main
from robot.cli.bench import simulated_gpio
from robot.config import TelemetryConfig
from robot.control.telemetry import TelemetryWriter
from robot.runtime.writable import PROBE_PREFIX, append_file_problem, directory_problem
from tests.robot.conftest import example, run_robot
from tests.robot.mcu import Microcontroller

# Their configs run the examples' TFLite policy (check probes it).
pytestmark = pytest.mark.tflite

ROOT = Path(__file__).resolve().parents[3]
CHANNELS = ("left_distance_m", "front_distance_m", "right_distance_m")
DRIVE_PINS = (12, 16, 13, 19)  # reference_gpio.toml's IN1..IN4
LEARNING_OFF = "[learning]\nenabled = false"
TELEMETRY_OFF = "[telemetry]\nenabled = false"


def bad_directory(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """An unwritable place for a directory, and the words the refusal must use."""
    if kind == "proc":
        return Path("/proc/sim2pi-nothing"), "ENOENT: No such file or directory"
    if kind == "file":
        (tmp_path / "a-file").write_text("not a directory\n")
        return tmp_path / "a-file", "is a regular file"
    if kind == "under-a-file":
        (tmp_path / "a-file").write_text("not a directory\n")
        return tmp_path / "a-file" / "learning", f"{tmp_path / 'a-file'} is a regular file"
    os.mkfifo(tmp_path / "a-fifo")
    return tmp_path / "a-fifo", "is a FIFO (named pipe)"


def bad_telemetry(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """An unwritable telemetry path, and the words the refusal must use."""
    if kind == "proc":
        return Path("/proc/sim2pi-nothing/ticks.jsonl"), "ENOENT: No such file or directory"
    if kind == "directory":
        (tmp_path / "ticks.jsonl").mkdir()
        return tmp_path / "ticks.jsonl", "it is a directory"
    if kind == "device":
        return Path("/dev/null"), "it is a character device"
    os.mkfifo(tmp_path / "ticks.jsonl")
    return tmp_path / "ticks.jsonl", "it is a FIFO (named pipe)"


def with_state_dir(tmp_path: Path, name: str, state_dir: Path, *, enabled: bool = False) -> Path:
    on = "true" if enabled else "false"
    learning = f'[learning]\nenabled = {on}\nstate_dir = "{state_dir}"'
    return example(tmp_path, name, (LEARNING_OFF, learning))


def with_telemetry(tmp_path: Path, name: str, path: Path) -> Path:
    old = f'{TELEMETRY_OFF}\npath = "telemetry/ticks.jsonl"'
    return example(tmp_path, name, (old, f'[telemetry]\nenabled = true\npath = "{path}"'))


def python_robot(*args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``python -m robot ARGS`` in a child process."""
    return run_robot(*args, timeout_s=timeout_s)


def assert_refused_before_the_backend(stderr: str, *expected: str) -> None:
    """One ERROR line with every ``expected`` part, no traceback, the backend never opened."""
    errors = [line for line in stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, stderr
    for part in expected:
        assert part in errors[0], errors[0]
    assert "Traceback" not in stderr
    assert "sim: simulated world" not in stderr and "first valid decision" not in stderr


# -- the checks themselves ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["proc", "file", "under-a-file", "fifo"])
def test_a_directory_that_cannot_be_written_is_named_for_what_it_is(
    tmp_path: Path, kind: str
) -> None:
    path, words = bad_directory(tmp_path, kind)
    for create in (False, True):
        problem = directory_problem(path, create=create, write=True)
        assert problem is not None and words in problem, problem
    assert not list(tmp_path.rglob(f"{PROBE_PREFIX}*"))


def test_check_creates_no_directory_and_run_creates_it(tmp_path: Path) -> None:
    wanted = tmp_path / "new" / "learning"
    assert directory_problem(wanted, create=False, write=True) is None
    assert not (tmp_path / "new").exists()  # judged by its nearest existing parent
    assert directory_problem(wanted, create=True, write=True) is None
    assert wanted.is_dir() and not list(tmp_path.rglob(f"{PROBE_PREFIX}*"))


@pytest.mark.parametrize("kind", ["proc", "directory", "device", "fifo"])
def test_a_telemetry_path_that_cannot_be_appended_to_is_named_for_what_it_is(
    tmp_path: Path, kind: str
) -> None:
    path, words = bad_telemetry(tmp_path, kind)
    problem = append_file_problem(path, create=False)
    assert problem is not None and words in problem, problem
    assert append_file_problem(tmp_path / "logs" / "ticks.jsonl", create=False) is None


def test_the_telemetry_writer_fails_at_once_on_a_fifo_nobody_reads(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "ticks.jsonl")
    failed: list[OSError] = []

    def open_it() -> None:
        try:
            TelemetryWriter(TelemetryConfig(enabled=True, path=tmp_path / "ticks.jsonl"))
        except OSError as exc:
            failed.append(exc)

    opener = threading.Thread(target=open_it, daemon=True)
    opener.start()
    opener.join(timeout=5.0)
    assert not opener.is_alive(), "opening a FIFO nobody reads blocked the run"
    assert failed and "No such device or address" in str(failed[0])


# -- robot check and robot run -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["proc", "file", "under-a-file", "fifo"])
def test_an_unwritable_state_dir_is_a_problem_for_check_and_refused_by_run_learn(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    state_dir, words = bad_directory(tmp_path, kind)
    learning = with_state_dir(tmp_path, "reference_sim.toml", state_dir, enabled=True)
    assert main(["check", "--config", str(learning)]) == 1
    out = capsys.readouterr().out
    assert f"paths    learning state_dir {state_dir}: FAIL" in out
    problem = next(line for line in out.splitlines() if line.startswith("PROBLEM"))
    assert f"[learning] state_dir {state_dir}: expected a directory this run can write" in problem
    assert words in problem and "point [learning] state_dir at a directory" in problem
    not_learning = with_state_dir(tmp_path, "reference_sim.toml", state_dir)
    assert main(["run", "--config", str(not_learning), "--max-ticks", "5", "--learn"]) == 2
    assert_refused_before_the_backend(caplog.text, f"[learning] state_dir {state_dir}", words)
    # A robot that does not learn never writes there: it runs.
    assert main(["run", "--config", str(not_learning), "--max-ticks", "5"]) == 0


def test_check_says_run_learn_would_be_refused_when_learning_is_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = with_state_dir(tmp_path, "reference_sim.toml", Path("/proc/sim2pi-nothing"))
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "learning state_dir /proc/sim2pi-nothing: not writable; run --learn is refused" in out


@pytest.mark.parametrize("kind", ["proc", "directory", "device", "fifo"])
def test_an_unwritable_telemetry_path_is_a_problem_for_check_and_refused_by_run(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    path, words = bad_telemetry(tmp_path, kind)
    config = with_telemetry(tmp_path, "reference_sim.toml", path)
    assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert f"paths    telemetry {path}: FAIL" in out
    assert f"[telemetry] path {path}: expected a file this run can append to, but" in out
    assert "or set [telemetry] enabled = false" in out
    assert main(["run", "--config", str(config), "--max-ticks", "5"]) == 2
    assert_refused_before_the_backend(caplog.text, f"[telemetry] path {path}", words)


def test_the_module_refuses_an_unwritable_state_dir_and_telemetry_in_one_line(
    tmp_path: Path,
) -> None:
    # The adversarial run's cases through the real command line: /proc/x for the state directory
    # (run --learn drove 0.9 m and lost everything), /proc/x/ticks.jsonl for telemetry.
    state = with_state_dir(tmp_path, "reference_sim.toml", Path("/proc/x"))
    result = python_robot("run", "--config", str(state), "--learn", "--max-ticks", "3000")
    assert result.returncode == 2, result.stderr
    assert_refused_before_the_backend(result.stderr, "[learning] state_dir /proc/x: expected")
    telemetry = with_telemetry(tmp_path, "reference_sim.toml", Path("/proc/x/ticks.jsonl"))
    result = python_robot("run", "--config", str(telemetry), "--max-ticks", "3000")
    assert result.returncode == 2, result.stderr
    assert_refused_before_the_backend(result.stderr, "[telemetry] path /proc/x/ticks.jsonl")


def test_gpio_mock_pins_never_move_when_the_telemetry_path_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    factory, _, _ = simulated_gpio(CHANNELS, (1.5, 1.5, 1.5))
    try:
        config = with_telemetry(tmp_path, "reference_gpio.toml", tmp_path)  # a directory
        code = main(["run", "--config", str(config), "--max-ticks", "30"], pin_factory=factory)
        assert code == 2
        assert "it is a directory" in caplog.text
        for pin in DRIVE_PINS:
            assert {float(s.state) for s in factory.pin(pin).states} == {0.0}
    finally:
        factory.reset()


def test_the_serial_link_hears_nothing_when_the_state_dir_is_refused(tmp_path: Path) -> None:
    mcu = Microcontroller()
    try:
        (tmp_path / "a-file").write_text("not a directory\n")
        state_dir = tmp_path / "a-file"
        config = example(
            tmp_path,
            "reference_serial.toml",
            ('url = "/dev/ttyACM0"', f'url = "{mcu.path}"'),
            ("[telemetry]\nenabled = true\n", "[telemetry]\nenabled = false\n"),
        )
        learning = f'\n[learning]\nenabled = true\nstate_dir = "{state_dir}"\n'
        config.write_text(config.read_text() + learning)  # the serial example has none
        result = python_robot("run", "--config", str(config), "--max-ticks", "50")
        assert result.returncode == 2, result.stderr
        assert_refused_before_the_backend(result.stderr, "it is a regular file")
        assert mcu.received == []  # not even the stop frame sent when the port opens
    finally:
        mcu.close()


def test_check_reports_every_place_a_run_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = with_telemetry(tmp_path, "reference_sim.toml", tmp_path / "t" / "ticks.jsonl")
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"paths    telemetry {tmp_path / 't' / 'ticks.jsonl'}: writable" in out
    assert f"paths    learning state_dir {tmp_path / 'learning'}: writable; no run learns" in out
    assert "paths    tflite probe cache " in out
    assert not (tmp_path / "t").exists() and not (tmp_path / "learning").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["robot.toml"]  # its probe files removed


def test_an_unwritable_probe_cache_is_a_problem_only_for_a_tflite_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("SIM2PI_STATE_DIR", "/proc/sim2pi-nothing")
    tflite = example(tmp_path, "reference_sim.toml")
    assert main(["check", "--config", str(tflite)]) == 1
    out = capsys.readouterr().out
    assert "paths    tflite probe cache /proc/sim2pi-nothing: FAIL" in out
    assert "PROBLEM  the TFLite probe's cache /proc/sim2pi-nothing: expected a directory" in out
    qtable = example(tmp_path, "reference_sim.toml", ('policy = "tflite"', 'policy = "qtable"'))
    assert main(["check", "--config", str(qtable)]) == 0
    assert "not writable (not needed by this policy)" in capsys.readouterr().out
