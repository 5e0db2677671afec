"""``python -m robot run|check|bench``: exit codes, reports, the service's command end to end."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot.cli import main
from robot.cli.bench import DRIVE_PINS, simulated_gpio
from robot.inference import tflite_runtimes as tflite
from robot.inference.tflite_runtimes import FORCE_ENV, PROBE_CANDIDATES
from tests.robot.conftest import FIXTURE_BUNDLE, example
from tests.robot.inference.test_runtime_probe import FAKE, REAL, fake_runtime, needs_runtime
from tests.robot.mcu import Microcontroller, wait_for

ROOT = Path(__file__).resolve().parents[3]
CHANNELS = ("left_distance_m", "front_distance_m", "right_distance_m")
MOTOR_PINS = tuple(pin for side in DRIVE_PINS for pin in side)


@pytest.fixture(autouse=True)
def probe_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The TFLite probe's verdicts go to a fresh directory, never to ~/.cache/sim2pi."""
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("SIM2PI_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture
def crashing_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Probe a fake runtime that dies by SIGSEGV inside ``Interpreter()`` before the real one.

    It stands in for a crashing TFLite build (as ai-edge-litert 2.2/2.3 were under qemu 7.2): a
    tiny distribution on the probe children's PYTHONPATH, under the name of the absent runtime.
    """
    env = fake_runtime(tmp_path / "fake", "segfault")
    monkeypatch.syspath_prepend(str(tmp_path / "fake"))
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    monkeypatch.delenv(FORCE_ENV, raising=False)
    monkeypatch.setattr(tflite, "PROBE_CANDIDATES", (FAKE, REAL))


@pytest.fixture
def rig() -> Iterator[tuple]:
    factory, _, triggers = simulated_gpio(CHANNELS, (1.5, 1.5, 1.5))
    yield factory, triggers
    factory.reset()


def motor_states(factory) -> list[float]:
    return [float(factory.pin(pin).state) for pin in MOTOR_PINS]


def test_help_on_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("run", "check", "stop", "bench"):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        assert "usage: python -m robot " + command in capsys.readouterr().out


def test_module_entry_point_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "robot", "--help"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert "{run,check,stop,bench,dashboard,calibrate}" in result.stdout


def test_check_reports_every_part_and_never_moves_a_motor(
    tmp_path: Path, rig: tuple, capsys: pytest.CaptureFixture[str]
) -> None:
    factory, _ = rig
    code = main(
        ["check", "--config", str(example(tmp_path, "reference_gpio.toml"))], pin_factory=factory
    )
    out = capsys.readouterr().out
    assert code == 0, out
    for expected in (
        "config   ok:",
        "numpy ",
        "bundle   ok:",
        "tflite   ai_edge_litert" if not os.environ.get("SIM2PI_TFLITE_RUNTIME") else "tflite   ",
        "policy   tflite: policy.tflite",
        "hardware gpio: pin factory MockFactory",
        "drive: left forward=GPIO12 backward=GPIO16",
        "sensor   front_distance_m: ",
        "sensor   bumper: released",
        "check    all well",
    ):
        assert expected in out
    for pin in MOTOR_PINS:  # every state the pin ever had was 0: nothing moved
        assert {float(s.state) for s in factory.pin(pin).states} == {0.0}


@pytest.mark.tflite
def test_check_fails_on_a_silent_sensor(
    tmp_path: Path, rig: tuple, capsys: pytest.CaptureFixture[str]
) -> None:
    factory, triggers = rig
    triggers[1].echo_enabled = False
    config = example(tmp_path, "reference_gpio.toml")
    code = main(["check", "--config", str(config), "--wait-s", "0.5"], pin_factory=factory)
    out = capsys.readouterr().out
    assert code == 1
    assert "sensor   front_distance_m: no reading in 0.5 s FAIL" in out
    assert "PROBLEM  front_distance_m gives no fresh reading: check its wiring and pins" in out


def test_config_errors_exit_2_with_the_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = example(tmp_path, "reference_gpio.toml", ("rate_hz = 20.0", "rate_hz = 2000.0"))
    assert main(["check", "--config", str(config)]) == 2
    assert "[loop.rate_hz] expected 1.0..200.0 Hz, found 2000.0" in caplog.text


def test_a_missing_bundle_exits_2(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = example(
        tmp_path, "reference_gpio.toml", (str(FIXTURE_BUNDLE), str(tmp_path / "nothing"))
    )
    assert main(["run", "--config", str(config)]) == 2
    assert "no such bundle directory" in caplog.text


def test_run_learn_learns_and_saves_its_state(tmp_path: Path, rig: tuple) -> None:
    factory, _ = rig
    config = example(tmp_path, "reference_gpio.toml")
    summary_path = tmp_path / "summary.json"
    args = ["run", "--config", str(config), "--max-ticks", "30", "--summary-json"]
    code = main([*args, str(summary_path), "--learn"], pin_factory=factory)
    assert code == 0
    learning = json.loads(summary_path.read_text())["learning"]
    assert learning["source"] == "bundle" and learning["updates"] > 0
    assert list((tmp_path / "learning").glob("qtable-*.snap"))


def test_the_qtable_learned_policy_drives_the_table_learnt_on_the_robot(
    tmp_path: Path, rig: tuple, caplog: pytest.LogCaptureFixture
) -> None:
    factory, _ = rig
    learned = example(
        tmp_path, "reference_gpio.toml", ('policy = "tflite"', 'policy = "qtable-learned"')
    )
    run = ["run", "--config", str(learned), "--max-ticks", "30"]
    assert main(["check", "--config", str(learned)], pin_factory=factory) == 2
    assert main(run, pin_factory=factory) == 2  # nothing learnt yet: refused, motors never moved
    said = "[bundle.policy] = 'qtable-learned': expected a snapshot learnt from this bundle"
    assert caplog.text.count(said) == 2  # check, then run
    assert "learn first (robot run --learn" in caplog.text
    assert {float(s.state) for s in factory.pin(12).states} == {0.0}
    assert main([*run, "--learn"], pin_factory=factory) == 0  # learns, saves at exit
    snapshot = max((tmp_path / "learning").glob("qtable-*.snap"))
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main(run, pin_factory=factory) == 0
    assert f"policy qtable-learned: snapshot {snapshot}" in caplog.text
    assert motor_states(factory) == [0.0] * 4
    assert list((tmp_path / "learning").glob("qtable-*.snap")) == [snapshot]  # nothing learnt


@pytest.mark.tflite
def test_run_drives_then_stops_and_writes_a_summary(tmp_path: Path, rig: tuple) -> None:
    factory, _ = rig
    config = example(
        tmp_path,
        "reference_gpio.toml",
        ("[telemetry]\nenabled = false", "[telemetry]\nenabled = true"),
    )
    summary_path = tmp_path / "summary.json"
    code = main(
        ["run", "--config", str(config), "--max-ticks", "30", "--summary-json", str(summary_path)],
        pin_factory=factory,
    )
    assert code == 0
    summary = json.loads(summary_path.read_text())
    assert summary["ticks"] == 30 and summary["decisions"] > 0
    assert summary["exit_reason"] == "max_ticks (30)"
    assert summary["rss_mb"] > 0 and summary["first_decision_after_process_start_s"] > 0
    assert {float(s.state) for s in factory.pin(12).states} > {0.0}  # it drove …
    assert motor_states(factory) == [0.0] * 4  # … and stopped at exit
    lines = (tmp_path / "telemetry" / "ticks.jsonl").read_text().splitlines()
    assert len(lines) == 3  # every 10th of 30 ticks


@pytest.mark.tflite
def test_bench_prints_each_policy_and_the_loop(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "--bundle", str(FIXTURE_BUNDLE), "--decisions", "300", "--ticks", "25"])
    out = capsys.readouterr().out
    assert code == 0
    for name in ("tflite ", "tflite-int8", "qtable"):
        assert f"decision {name}" in out
    assert "loop on gpio+MockFactory (tflite, 25 ticks at 50.0 Hz)" in out
    assert "telemetry record p50 " in out and "each handed to the OS as written" in out
    # The supervisor's own cost, on a stream that visits each of its paths.
    line = next(x for x in out.splitlines() if x.startswith("supervisor per tick"))
    assert "10000 ticks" in line
    for reason in ("'contact': ", "'no_progress': ", "'oscillation': "):
        count = int(line.split(reason)[1].split(",")[0].rstrip("})"))
        assert count > 0, (reason, line)


def test_bench_refuses_a_rate_outside_the_loops_range(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bench", "--bundle", str(FIXTURE_BUNDLE), "--rate-hz", "500"])
    assert exited.value.code == 2
    assert "argument --rate-hz: expected 1..200 Hz, found 500" in capsys.readouterr().err


@pytest.mark.tflite
def test_the_service_command_stops_on_sigterm(tmp_path: Path) -> None:
    mcu = Microcontroller()
    try:
        config = example(
            tmp_path,
            "reference_serial.toml",
            ('url = "/dev/ttyACM0"', f'url = "{mcu.path}"'),
            ("[telemetry]\nenabled = true\n", "[telemetry]\nenabled = false\n"),
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "robot", "run", "--config", str(config)],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(lambda: len(mcu.received) >= 1, timeout_s=20.0)  # the stop sent on opening
            deadline = time.monotonic() + 20.0
            while time.monotonic() < deadline and not any(
                getattr(f, "left", 0.0) != 0.0 for f in mcu.received
            ):
                mcu.send_ranges((1.5, 1.5, 1.5))
                time.sleep(0.02)
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 0, stderr
        assert "first valid decision" in stderr
        assert "exit: SIGTERM" in stderr
        assert any(getattr(f, "left", 0.0) != 0.0 for f in mcu.received)
        last = mcu.received[-1]
        assert (last.left, last.right) == (0.0, 0.0)  # type: ignore[union-attr]
    finally:
        mcu.close()


def test_check_with_the_qtable_policy_still_reports_the_runtime(
    tmp_path: Path, rig: tuple, capsys: pytest.CaptureFixture[str]
) -> None:
    factory, _ = rig
    config = example(tmp_path, "reference_gpio.toml", ('policy = "tflite"', 'policy = "qtable"'))
    assert main(["check", "--config", str(config)], pin_factory=factory) == 0
    out = capsys.readouterr().out
    assert "(not needed by qtable)" in out
    assert "policy   qtable: (5, 5, 5) bins" in out


def test_check_shows_every_supervisor_key_or_that_it_is_off(
    tmp_path: Path, rig: tuple, capsys: pytest.CaptureFixture[str]
) -> None:
    factory, _ = rig
    config = example(tmp_path, "reference_gpio.toml", ('policy = "tflite"', 'policy = "qtable"'))
    assert main(["check", "--config", str(config)], pin_factory=factory) == 0
    out = capsys.readouterr().out
    assert (
        "supervisor on: contact (the bumper or a range < 0.03 m); no progress: forward 3 s, " in out
    )
    assert "ranges within 0.03 m; oscillation: 8 turn reversals in 4 s" in out
    assert "recovery [(+0.00, +0.00) 0.1 s, (-0.50, -0.50) 0.6 s, (-0.60, +0.60) 0.5 s]" in out
    assert "shield 0.2 m; stuck after 3 recoveries failed within 3 s: retry after 30 s" in out
    config = example(
        tmp_path,
        "reference_gpio.toml",
        ('policy = "tflite"', 'policy = "qtable"'),
        ("[supervisor]\nenabled = true", "[supervisor]\nenabled = false"),
    )
    assert main(["check", "--config", str(config)], pin_factory=factory) == 0
    assert "supervisor OFF ([supervisor] enabled = false)" in capsys.readouterr().out


@pytest.mark.tflite
@pytest.mark.parametrize("pwm_pins", [True, False])
def test_the_mock_pin_dry_run_the_example_describes(tmp_path: Path, pwm_pins: bool) -> None:
    # What reference_gpio.toml's header promises for a laptop: with PWM mock pins every part
    # opens and one inference runs, then check fails honestly (mock pins never echo); without
    # them the PWM drive cannot open.
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "PYTHONPATH": str(ROOT)}
    env.pop("GPIOZERO_MOCK_PIN_CLASS", None)
    if pwm_pins:
        env["GPIOZERO_MOCK_PIN_CLASS"] = "mockpwmpin"
    config = example(tmp_path, "reference_gpio.toml")
    result = subprocess.run(
        [sys.executable, "-m", "robot", "check", "--config", str(config), "--wait-s", "0.3"],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "policy   tflite: policy.tflite" in result.stdout
    if pwm_pins:
        assert "hardware gpio: pin factory MockFactory" in result.stdout
        assert "sensor   front_distance_m: no reading in 0.3 s FAIL" in result.stdout
        assert "check    3 problem(s)" in result.stdout
    else:
        assert "hardware FAIL:" in result.stdout and "PinPWMUnsupported" in result.stdout


def test_a_sighup_during_start_up_is_kept_for_the_reloader() -> None:
    # SIGHUP's default action ends the process: it is caught from the start of `run` and
    # handed to the reloader once the loop exists.
    from robot.cli.signals import HangupLatch

    requests: list[str] = []

    class Reloader:
        def request(self) -> None:
            requests.append("reload")

    latch = HangupLatch()
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        assert latch.early and requests == []
        latch.attach(Reloader())  # type: ignore[arg-type]
        assert requests == ["reload"]
        os.kill(os.getpid(), signal.SIGHUP)
        assert requests == ["reload", "reload"]
    finally:
        latch.restore()
    assert signal.getsignal(signal.SIGHUP) == latch.previous


@needs_runtime
def test_check_shows_the_probe_table_then_its_cached_verdicts(
    tmp_path: Path, rig: tuple, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    factory, _ = rig
    monkeypatch.delenv(FORCE_ENV, raising=False)
    config = str(example(tmp_path, "reference_gpio.toml"))
    assert main(["check", "--config", config], pin_factory=factory) == 0
    first = capsys.readouterr().out
    assert "chosen by a child-process probe:" in first
    assert "runtime          version    status   detail, time or cached" in first
    rows = [line for line in first.splitlines() if line.startswith("         ")]
    for candidate in PROBE_CANDIDATES:  # every candidate has a row, tried or not
        assert any(row[11:].startswith(candidate) for row in rows), first
    chosen = next(row for row in rows if row.startswith("         * "))
    assert " ok " in chosen and "8 reference outputs" in chosen and chosen.endswith(" s")
    assert main(["check", "--config", config], pin_factory=factory) == 0
    second = capsys.readouterr().out
    chosen_again = next(row for row in second.splitlines() if row.startswith("         * "))
    assert chosen_again.endswith(", cached") and chosen_again.split()[:3] == chosen.split()[:3]


@needs_runtime
def test_a_crashing_runtime_is_skipped_and_run_starts_on_the_next(
    tmp_path: Path, rig: tuple, crashing_first: None, caplog: pytest.LogCaptureFixture
) -> None:
    factory, _ = rig
    config = str(example(tmp_path, "reference_gpio.toml"))
    with caplog.at_level(logging.INFO):
        assert main(["run", "--config", config, "--max-ticks", "10"], pin_factory=factory) == 0
    assert f"TFLite runtime {FAKE} skipped: crashed: killed by SIGSEGV" in caplog.text
    assert f"TFLite runtime: {REAL} " in caplog.text and "(probe " in caplog.text
    assert {float(s.state) for s in factory.pin(12).states} > {0.0}  # it drove
    # The second start takes both verdicts from the cache: no child, so no crash to log.
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main(["run", "--config", config, "--max-ticks", "10"], pin_factory=factory) == 0
    assert f"TFLite runtime: {REAL} " in caplog.text and "(probe, cached)" in caplog.text


@pytest.mark.tflite
def test_run_refuses_to_start_when_no_runtime_passes_and_never_moves_a_motor(
    tmp_path: Path,
    rig: tuple,
    crashing_first: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    factory, _ = rig
    monkeypatch.setattr(tflite, "PROBE_CANDIDATES", (FAKE,))
    config = str(example(tmp_path, "reference_gpio.toml"))
    assert main(["run", "--config", config, "--max-ticks", "10"], pin_factory=factory) == 2
    assert "no TFLite runtime reproduces" in caplog.text
    assert "crashed  killed by SIGSEGV" in caplog.text and "pip install" in caplog.text
    for pin in MOTOR_PINS:
        assert {float(s.state) for s in factory.pin(pin).states} == {0.0}


@pytest.mark.tflite
@pytest.mark.parametrize("command", ["run", "check"])
def test_the_gym_backend_is_refused_on_the_robot_with_the_way_to_run_it(
    tmp_path: Path, command: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    # Gymnasium is a laptop-only dependency: robot/ never imports it, and says where it runs.
    config = example(tmp_path, "reference_gym.toml")
    assert main([command, "--config", str(config)]) == 1
    said = caplog.text + capsys.readouterr().out
    assert f"python -m trainer sil run --config {config}" in said
    assert "on the robot choose backend = 'gpio', 'serial' or 'sim'" in said


def test_a_backend_passed_in_runs_the_gym_config(tmp_path: Path) -> None:
    # The laptop passes its gym backend to main (no module global): here a stand-in on mock pins.
    from robot.hardware.gpio import GpioHardware

    factory, gpio, _ = simulated_gpio(CHANNELS, (1.5, 1.5, 1.5))
    opened: list[object] = []

    def open_stand_in(config, bundle, clock):  # (its config section, the bundle, the clock's now)
        opened.append(config)
        return GpioHardware(gpio, bundle.spec.observation.names, clock=clock, pin_factory=factory)

    config = example(tmp_path, "reference_gym.toml", ('policy = "tflite"', 'policy = "qtable"'))
    # --real-time: the stand-in's sensors are mock pins read on the wall clock (a gym backend
    # runs on simulated time otherwise, where 20 ticks pass before any echo returns).
    argv = ["run", "--config", str(config), "--max-ticks", "20", "--real-time"]
    try:
        assert main(argv, backends={"gym": open_stand_in}) == 0
        assert [type(c).__name__ for c in opened] == ["GymConfig"]
        assert {float(s.state) for s in factory.pin(MOTOR_PINS[0]).states} > {0.0}  # it drove …
        assert motor_states(factory) == [0.0] * 4  # … and stopped at exit
    finally:
        factory.reset()
    assert main(argv) == 1  # without it, the way to run it, as above
