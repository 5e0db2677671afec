"""The runtime as systemd runs it: real processes, real signals, a notify socket the test binds.

The world is a microcontroller on a real pty (``tests/robot/mcu.py``) that streams ``$S`` range
frames and records every frame the runtime sends, or gpiozero's MockFactory with echoing HC-SR04
pins inside the child process. Also: SIGHUP reload validation, journald log lines, writable
defaults under ``$STATE_DIRECTORY``.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from robot.config import load_config
from robot.errors import ConfigError, PolicyLoadError, SpecMismatchError
from robot.hardware import frames
from robot.runtime.compose import open_bundle
from robot.runtime.reload import prepare_replacement
from robot.runtime.state_dirs import with_writable_defaults
from robot.systemd.journal import JournalFormatter, configure_logging, stream_is_journal
from shared.spec import ObservationSpec, TaskSpec
from tests.robot.mcu import Microcontroller

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "robot" / "examples"
FIXTURE_BUNDLE = ROOT / "tests" / "fixtures" / "obstacle_bundle"
REFERENCE_BUNDLE = ROOT / "reference_bundles" / "obstacle_avoid"
WATCHDOG_USEC = 400_000  # WatchdogSec=0.4s: a ping at most every 0.2 s
PING_INTERVAL_S = WATCHDOG_USEC / 2 / 1e6


def serial_config(tmp_path: Path, url: str, *replacements: tuple[str, str]) -> Path:
    """The reference serial config on ``url``, Q-table policy, no telemetry."""
    text = (EXAMPLES / "reference_serial.toml").read_text()
    for old, new in (
        ('"../../tests/fixtures/obstacle_bundle"', json.dumps(str(FIXTURE_BUNDLE))),
        ('url = "/dev/ttyACM0"', f'url = "{url}"'),
        ('policy = "tflite-int8"', 'policy = "qtable"'),
        ("[telemetry]\nenabled = true\n", "[telemetry]\nenabled = false\n"),
        *replacements,
    ):
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "robot.toml"
    path.write_text(text)
    return path


class NotifySocket:
    """What systemd holds: a bound datagram socket; messages are kept with their arrival time."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.received: list[tuple[float, str]] = []

    def receive(self, timeout_s: float) -> str | None:
        """The next message, or None after ``timeout_s``."""
        self.sock.settimeout(timeout_s)
        try:
            message = self.sock.recv(4096).decode()
        except TimeoutError:
            return None
        self.received.append((time.monotonic(), message))
        return message

    def drain(self) -> list[str]:
        """Every message queued right now."""
        out = []
        while (message := self.receive(0.001)) is not None:
            out.append(message)
        return out

    def wait_for(self, predicate: Callable[[str], bool], timeout_s: float) -> str:
        """Receive until a message satisfies ``predicate``; fail after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is not None and predicate(message):
                return message
        raise AssertionError(f"no such sd_notify message in {timeout_s} s: {self.received[-5:]}")

    def close(self) -> None:
        self.sock.close()


class Service:
    """``python -m robot run`` under a notify socket, with its log in a file."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self._log, text=True
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for_log(self, text: str, count: int = 1, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.log().count(text) < count:
            assert self.process.poll() is None, self.log()
            assert time.monotonic() < deadline, f"{text!r} ×{count} not logged:\n{self.log()}"
            time.sleep(0.02)

    def signal_and_wait(self, signum: int) -> tuple[int, float]:
        """Send ``signum``; return the exit code and the seconds until the process ended."""
        sent_at_s = time.monotonic()
        self.process.send_signal(signum)
        code = self.process.wait(timeout=20)
        return code, time.monotonic() - sent_at_s

    def close(self) -> str:
        if self.process.poll() is None:
            self.process.kill()
        stdout = self.process.communicate()[0]
        self._log.close()
        return stdout


def service_env(notify: NotifySocket, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "NOTIFY_SOCKET": notify.path,
        "WATCHDOG_USEC": str(WATCHDOG_USEC),
        "PYTHONPATH": str(ROOT),
        **extra,
    }
    for name in ("WATCHDOG_PID", "JOURNAL_STREAM", "STATE_DIRECTORY", "SIM2PI_FAULT_STALL_FILE"):
        if name not in extra:
            env.pop(name, None)
    return env


class Feeder:
    """The microcontroller's measurement cycle: a ``$S`` frame every 20 ms, on a thread."""

    def __init__(self, mcu: Microcontroller) -> None:
        self.mcu = mcu
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.mcu.send_ranges((1.5, 1.5, 1.5))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def world() -> Iterator[tuple[Microcontroller, NotifySocket]]:
    """A microcontroller streaming ranges on a pty, and a notify socket (short path)."""
    mcu = Microcontroller()
    feeder = Feeder(mcu)
    with tempfile.TemporaryDirectory(prefix="svc") as directory:
        notify = NotifySocket(directory)
        try:
            yield mcu, notify
        finally:
            notify.close()
            feeder.close()
            mcu.close()


def run_serial(tmp_path: Path, mcu: Microcontroller, notify: NotifySocket, **env: str) -> Service:
    assert mcu.path is not None
    config = serial_config(tmp_path, mcu.path)
    return Service(
        [sys.executable, "-m", "robot", "run", "--config", str(config)],
        service_env(notify, **env),
        tmp_path / "service.log",
    )


def last_drive(mcu: Microcontroller) -> tuple[float, float]:
    drives = [f for f in mcu.received if isinstance(f, frames.DriveFrame)]
    return drives[-1].left, drives[-1].right


@pytest.mark.slow
def test_a_stalled_loop_stops_the_watchdog_pings_while_the_process_lives(
    tmp_path: Path, world: tuple[Microcontroller, NotifySocket]
) -> None:
    mcu, notify = world
    stall = tmp_path / "stall"
    service = run_serial(tmp_path, mcu, notify, SIM2PI_FAULT_STALL_FILE=str(stall))
    try:
        notify.wait_for(lambda m: m.startswith("READY=1"), timeout_s=30.0)
        for _ in range(3):
            notify.wait_for(lambda m: m == "WATCHDOG=1\n", timeout_s=5.0)
        stall.touch()
        service.wait_for_log("the loop stalls while")
        notify.drain()  # pings sent before the stall began
        frames_before = len(mcu.received)
        # Ten ping intervals: not one ping, not one frame to the microcontroller (whose own
        # timeout then stops the motors), yet the process and its other threads are alive.
        quiet_s = 10 * PING_INTERVAL_S
        assert notify.receive(quiet_s) is None
        assert len(mcu.received) == frames_before
        assert service.process.poll() is None
        stall.unlink()
        notify.wait_for(lambda m: m == "WATCHDOG=1\n", timeout_s=5.0)
        code, after_s = service.signal_and_wait(signal.SIGTERM)
    finally:
        service.close()
    assert code == 0, service.log()
    assert after_s < 5.0  # the 1 s bound is the signal test's; this machine is shared
    assert "fault injection: stall over" in service.log()
    assert last_drive(mcu) == (0.0, 0.0)


GPIO_CHILD = """\
import json, sys
from robot.cli.bench import DRIVE_PINS, simulated_gpio
from robot.cli import main
factory, _, _ = simulated_gpio(("left_distance_m", "front_distance_m", "right_distance_m"),
                               (1.5, 1.5, 1.5))
code = main(["run", "--config", sys.argv[1]], pin_factory=factory)
pins = {n: [float(s.state) for s in factory.pin(n).states] for side in DRIVE_PINS for n in side}
print(json.dumps({"code": code, "pins": pins}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_the_service_with_exit_0_within_a_second_and_the_pins_at_0(
    tmp_path: Path, signum: int
) -> None:
    # The child runs the real CLI on gpiozero's MockFactory, whose HC-SR04 trigger pins echo;
    # after main() returns it prints the history of every motor pin, read from the factory.
    text = (EXAMPLES / "reference_gpio.toml").read_text()
    config = tmp_path / "robot.toml"
    config.write_text(
        text.replace('"../../tests/fixtures/obstacle_bundle"', json.dumps(str(FIXTURE_BUNDLE)))
    )
    with tempfile.TemporaryDirectory(prefix="svc") as directory:
        notify = NotifySocket(directory)
        service = Service(
            [sys.executable, "-c", GPIO_CHILD, str(config)],
            service_env(notify),
            tmp_path / "service.log",
        )
        try:
            notify.wait_for(lambda m: m.startswith("READY=1"), timeout_s=30.0)
            notify.wait_for(lambda m: m == "WATCHDOG=1\n", timeout_s=5.0)
            code, after_s = service.signal_and_wait(signum)
            notify.drain()
        finally:
            stdout = service.close()
            notify.close()
    assert code == 0, service.log()
    assert after_s < 1.0, service.log()
    assert f"exit: {signal.Signals(signum).name}" in service.log()
    assert notify.received[-1][1] == "STOPPING=1\n"
    result = json.loads(stdout)
    assert result["code"] == 0
    for pin, states in result["pins"].items():
        assert states[-1] == 0.0, pin
    assert any(s > 0 for states in result["pins"].values() for s in states)  # it drove


@pytest.mark.tflite
@pytest.mark.slow
def test_sighup_refuses_every_broken_reload_and_switches_to_a_valid_bundle(
    tmp_path: Path, world: tuple[Microcontroller, NotifySocket]
) -> None:
    mcu, notify = world
    service = run_serial(tmp_path, mcu, notify)
    config = tmp_path / "robot.toml"
    good = config.read_text()
    corrupt = tmp_path / "corrupt-bundle"
    shutil.copytree(FIXTURE_BUNDLE, corrupt)
    with open(corrupt / "qtable.npy", "r+b") as file:  # one byte flipped: a torn copy
        file.seek(-1, os.SEEK_END)
        last = file.read(1)
        file.seek(-1, os.SEEK_END)
        file.write(bytes([last[0] ^ 0xFF]))
    new_bundle = tmp_path / "obstacle-v2"
    shutil.copytree(FIXTURE_BUNDLE, new_bundle)
    broken = [
        ("not TOML", good.replace("[loop]", "[loop"), "not valid TOML"),
        ("bad value", good.replace("rate_hz = 20.0", "rate_hz = 2000.0"), "[loop.rate_hz]"),
        ("no bundle", good.replace(str(FIXTURE_BUNDLE), str(tmp_path / "gone")), "no such"),
        ("bad checksum", good.replace(str(FIXTURE_BUNDLE), str(corrupt)), "qtable.npy"),
        ("hardware", good.replace("baudrate = 115200", "baudrate = 57600"), "[hardware] changed"),
    ]
    try:
        notify.wait_for(lambda m: m.startswith("READY=1"), timeout_s=30.0)
        for n, (what, text, expected) in enumerate(broken, start=1):
            config.write_text(text)
            service.process.send_signal(signal.SIGHUP)
            service.wait_for_log("reload refused", count=n)
            assert expected in service.log().splitlines()[-1], what
            # Reload protocol: RELOADING=1, then READY=1 saying the old one still runs.
            notify.wait_for(lambda m: m.startswith("RELOADING=1\nMONOTONIC_USEC="), 5.0)
            notify.wait_for(
                lambda m: m.startswith(
                    "READY=1\nSTATUS=reload refused; still running bundle "
                    "obstacle_bundle, policy qtable"
                ),
                5.0,
            )
            # The old config keeps running: the loop keeps pinging.
            for _ in range(2):
                notify.wait_for(lambda m: m == "WATCHDOG=1\n", timeout_s=5.0)
            assert service.process.poll() is None
        config.write_text(
            good.replace(str(FIXTURE_BUNDLE), str(new_bundle)).replace(
                'policy = "qtable"', 'policy = "tflite"'
            )
        )
        service.process.send_signal(signal.SIGHUP)
        notify.wait_for(
            lambda m: m == "READY=1\nSTATUS=reloaded: bundle obstacle-v2, policy tflite\n", 20.0
        )
        service.wait_for_log("reloaded: now running bundle obstacle-v2, policy tflite")
        notify.wait_for(lambda m: "STATUS=driving;" in m and "obstacle-v2" in m, 5.0)
        for _ in range(2):
            notify.wait_for(lambda m: m == "WATCHDOG=1\n", timeout_s=5.0)
        code, after_s = service.signal_and_wait(signal.SIGTERM)
    finally:
        service.close()
    log = service.log()
    assert code == 0, log
    assert after_s < 5.0  # the 1 s bound is the signal test's; this machine is shared
    assert log.count("reload refused") == len(broken)
    assert last_drive(mcu) == (0.0, 0.0)


@pytest.mark.slow
def test_sighup_with_learning_keeps_the_learner_on_the_same_qtable_and_restarts_on_a_new_one(
    tmp_path: Path, world: tuple[Microcontroller, NotifySocket]
) -> None:
    from shared.bundle import read_bundle, sha256_file
    from shared.qtable import list_snapshots, load_latest

    mcu, notify = world
    assert mcu.path is not None
    state = tmp_path / "learning"
    config = serial_config(tmp_path, mcu.path)
    # [learning] enabled = false: the --learn flag turns it on, for the reloads too.
    learning = f'\n[learning]\nenabled = false\nsave_every = 20\nstate_dir = "{state}"\n'
    config.write_text(config.read_text() + learning)
    good = config.read_text()
    service = Service(
        [sys.executable, "-m", "robot", "run", "--config", str(config), "--learn"],
        service_env(notify),
        tmp_path / "service.log",
    )
    try:
        notify.wait_for(lambda m: m.startswith("READY=1"), timeout_s=30.0)
        service.wait_for_log("learning on: state in", count=1)
        # The same bundle with another policy: the learner and its state carry on.
        config.write_text(good.replace('policy = "qtable"', 'policy = "tflite"'))
        # The socket queues only net.unix.max_dgram_qlen (10) datagrams, ~2 s of pings, and a
        # full queue drops what the service sends: drain it, then read while the reload runs.
        notify.drain()
        service.process.send_signal(signal.SIGHUP)
        notify.wait_for(lambda m: m.startswith("READY=1\nSTATUS=reloaded:"), 30.0)
        service.wait_for_log("reloaded: now running bundle obstacle_bundle, policy tflite")
        assert "learning state saved" not in service.log()
        deadline = time.monotonic() + 20.0
        while not list_snapshots(state):  # saves go on (every 20 updates)
            assert time.monotonic() < deadline, service.log()
            time.sleep(0.05)
        assert service.log().count("learning on: state in") == 1  # the same learner
        # Another bundle (another Q-table): the learner saves and closes, a new one starts on
        # the new table, and the old bundle's snapshots are moved aside.
        config.write_text(good.replace(str(FIXTURE_BUNDLE), str(REFERENCE_BUNDLE)))
        service.process.send_signal(signal.SIGHUP)
        service.wait_for_log("reloaded: now running bundle obstacle_avoid, policy qtable")
        service.wait_for_log("learning on: state in", count=2)
        deadline = time.monotonic() + 20.0
        while not list_snapshots(state):  # the new learner's first save (20 updates)
            assert time.monotonic() < deadline, service.log()
            time.sleep(0.05)
        code, _ = service.signal_and_wait(signal.SIGTERM)
    finally:
        service.close()
    log = service.log()
    assert code == 0, log
    assert log.count("learning state saved") == 2, log  # at the switch and at exit
    assert "belongs to another bundle" in log, log
    assert last_drive(mcu) == (0.0, 0.0)
    reference_sha = sha256_file(read_bundle(REFERENCE_BUNDLE).file("qtable.npy"))
    final = load_latest(state).qtable
    assert final.meta["bundle_qtable_sha256"] == reference_sha
    assert final.meta["updates"] >= 20
    (stale,) = state.glob("stale-*")
    moved = [load_latest(stale).qtable]
    assert moved[0].meta["bundle_qtable_sha256"] != reference_sha
    assert moved[0].meta["updates"] >= 20  # the first learner's state, kept across the 1st reload
    assert list_snapshots(state)


# --- reload validation, in process ---------------------------------------------------------


def test_prepare_replacement_checks_the_channels_against_the_running_hardware(
    tmp_path: Path,
) -> None:
    config = with_writable_defaults(load_config(serial_config(tmp_path, "loop://")), {})
    bundle = open_bundle(config)
    replacement, _, _ = prepare_replacement(config, bundle, config.source, None)
    assert replacement.label == "bundle obstacle_bundle, policy qtable"
    assert replacement.telemetry is None and replacement.config == config.loop
    # The hardware reads its channels in the running bundle's order; a bundle observing them
    # in another order cannot be switched to without reopening it.
    swapped = list(bundle.spec.observation.channels)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    running = dataclasses.replace(
        bundle,
        spec=TaskSpec(bundle.spec.env_id, ObservationSpec(tuple(swapped)), bundle.spec.actions),
    )
    with pytest.raises(SpecMismatchError, match="in that order; restart the service"):
        prepare_replacement(config, running, config.source, None)


def test_prepare_replacement_keeps_a_learner_on_the_same_qtable_and_replaces_it_otherwise(
    tmp_path: Path,
) -> None:
    from robot.control.decider import GreedyDecider
    from robot.learning import Learner
    from shared.qtable import list_snapshots

    path = serial_config(tmp_path, "loop://")
    learning = f'\n[learning]\nenabled = true\nstate_dir = "{tmp_path / "learning"}"\n'
    path.write_text(path.read_text() + learning)
    config = load_config(path)
    bundle = open_bundle(config)
    running = Learner.from_bundle(bundle, config.learning)
    same, _, _ = prepare_replacement(config, bundle, path, None, running=running)
    assert same.open_decider() is running  # the running learner carries on, state and all
    assert not list_snapshots(tmp_path / "learning")  # and was not closed
    # Other [learning] settings: a new learner (it resumes from the state the old one saves).
    on = "[learning]\nenabled = true\n"
    path.write_text(path.read_text().replace(on, on + "gamma = 0.9\n"))
    retuned, _, _ = prepare_replacement(config, bundle, path, None, running=running)
    opened = retuned.open_decider()
    assert isinstance(opened, Learner) and opened.config.gamma == 0.9
    assert list_snapshots(tmp_path / "learning")  # the running learner saved before it opened
    # Another bundle's Q-table: a new learner on it.
    path.write_text(path.read_text().replace(str(FIXTURE_BUNDLE), str(REFERENCE_BUNDLE)))
    other, _, new_bundle = prepare_replacement(config, bundle, path, None, running=running)
    assert new_bundle.path == REFERENCE_BUNDLE
    assert other.open_decider().bundle_sha256 != running.bundle_sha256  # type: ignore[attr-defined]
    # Learning turned off: the running learner is closed, the greedy policy decides.
    path.write_text(path.read_text().replace(on, "[learning]\nenabled = false\n"))
    off, _, _ = prepare_replacement(config, bundle, path, None, running=running)
    assert isinstance(off.open_decider(), GreedyDecider)
    # ... unless the run was started with --learn.
    kept, _, _ = prepare_replacement(config, new_bundle, path, None, running=opened, learn=True)
    next_learner = kept.open_decider()  # the bundle changed back: a learner on it
    assert isinstance(next_learner, Learner) and next_learner is not opened


def test_with_learning_on_the_configured_policy_is_not_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The learner decides: no TFLite interpreter and no child-process probe for a policy that
    # nothing would call. The label still names the configured policy.
    from robot.learning import Learner
    from robot.runtime import compose as composition

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a policy was built while learning")

    monkeypatch.setattr(composition, "load_policy", refuse)
    monkeypatch.setattr(composition, "choose_runtime", refuse)
    path = serial_config(tmp_path, "loop://", ('policy = "qtable"', 'policy = "tflite"'))
    learning = f'\n[learning]\nstate_dir = "{tmp_path / "learning"}"\n'
    path.write_text(path.read_text() + learning)
    config = load_config(path)
    bundle = open_bundle(config)
    learned = composition.compose(config, bundle, learn=True)
    assert learned.learning and learned.label == "bundle obstacle_bundle, policy tflite"
    decider = learned.open_decider()
    assert isinstance(decider, Learner)
    decider.close()
    replacement, _, _ = prepare_replacement(config, bundle, path, None, learn=True)
    assert replacement.label == "bundle obstacle_bundle, policy tflite"
    assert isinstance(replacement.open_decider(), Learner)


def bundle_without_a_qtable(tmp_path: Path) -> Path:
    """A copy of the fixture bundle whose manifest and directory have no Q-table."""
    no_table = tmp_path / "no-qtable"
    shutil.copytree(FIXTURE_BUNDLE, no_table)
    manifest = json.loads((no_table / "manifest.json").read_text())
    manifest["files"] = {k: v for k, v in manifest["files"].items() if k != "qtable.npy"}
    manifest.pop("qtable", None)
    (no_table / "manifest.json").write_text(json.dumps(manifest))
    (no_table / "qtable.npy").unlink()
    return no_table


def test_a_reload_to_qtable_learned_drives_the_newest_snapshot(tmp_path: Path) -> None:
    from robot.control.decider import GreedyDecider
    from robot.learning import Learner

    path = serial_config(tmp_path, "loop://")
    config = load_config(path)
    bundle = open_bundle(config)
    learnt = f'\n[learning]\nstate_dir = "{tmp_path / "learning"}"\n'
    path.write_text(path.read_text().replace('policy = "qtable"', 'policy = "qtable-learned"'))
    path.write_text(path.read_text() + learnt)
    with pytest.raises(PolicyLoadError, match="found none usable"):
        prepare_replacement(config, bundle, path, None)  # nothing learnt: refused, old runs on
    settings = load_config(path).learning
    learner = Learner.from_bundle(bundle, settings)
    learner.table.values[...] = -learner.table.values  # a table unlike the bundle's
    learner.close()
    replacement, _, _ = prepare_replacement(config, bundle, path, None)
    assert replacement.label == "bundle obstacle_bundle, policy qtable-learned"
    decider = replacement.open_decider()
    assert isinstance(decider, GreedyDecider)  # no learner: the learnt table, greedily
    assert decider.policy.qtable == pytest.approx(-bundle.load_qtable())  # type: ignore[attr-defined]
    # A bundle without a Q-table has nothing to have learnt: the Q-table policy's refusal.
    no_table = bundle_without_a_qtable(tmp_path)
    path.write_text(path.read_text().replace(str(FIXTURE_BUNDLE), str(no_table)))
    with pytest.raises(PolicyLoadError, match="this bundle has no Q-table"):
        prepare_replacement(config, bundle, path, None)


def test_prepare_replacement_refuses_learning_on_a_bundle_without_a_qtable(
    tmp_path: Path,
) -> None:
    no_table = bundle_without_a_qtable(tmp_path)
    path = serial_config(tmp_path, "loop://")
    config = load_config(path)
    bundle = open_bundle(config)
    path.write_text(
        path.read_text()
        .replace(str(FIXTURE_BUNDLE), str(no_table))
        .replace('policy = "qtable"', 'policy = "tflite"')
        + "\n[learning]\nenabled = true\n"
    )
    with pytest.raises(ConfigError, match=r"\[learning\] learns on the bundle's Q-table"):
        prepare_replacement(config, bundle, path, None)


# --- journald log levels -------------------------------------------------------------------


def test_journal_lines_carry_the_syslog_priority_on_one_line() -> None:
    formatter = JournalFormatter()

    def line(level: int, message: str, exc_info: object = None) -> str:
        record = logging.LogRecord("robot.control.loop", level, __file__, 1, message, (), exc_info)
        return formatter.format(record)

    assert (
        line(logging.INFO, "first valid decision")
        == "<6>INFO robot.control.loop: first valid decision"
    )
    assert line(logging.WARNING, "motors stopped").startswith("<4>WARNING ")
    assert line(logging.ERROR, "reload refused").startswith("<3>ERROR ")
    assert line(logging.CRITICAL, "x").startswith("<2>")
    assert line(logging.DEBUG, "x").startswith("<7>")
    try:
        raise ValueError("boom")
    except ValueError:
        folded = line(logging.ERROR, "tick 3 raised\nsecond line", sys.exc_info())
    assert "\n" not in folded
    assert folded.startswith("<3>ERROR robot.control.loop: tick 3 raised ⏎ second line ⏎ Traceback")
    assert folded.endswith("ValueError: boom")


def test_journal_stream_must_name_our_stderr(tmp_path: Path) -> None:
    with open(tmp_path / "err", "w") as stream:
        status = os.fstat(stream.fileno())
        mine = f"{status.st_dev}:{status.st_ino}"
        assert stream_is_journal(stream, {"JOURNAL_STREAM": mine})
        assert not stream_is_journal(stream, {"JOURNAL_STREAM": f"{status.st_dev}:1"})
        assert not stream_is_journal(stream, {"JOURNAL_STREAM": "garbage"})
        assert not stream_is_journal(stream, {})
    assert not stream_is_journal(io.StringIO(), {"JOURNAL_STREAM": mine})


@pytest.mark.parametrize("journal", [True, False])
def test_the_cli_logs_for_journald_only_when_stderr_is_the_journal(
    tmp_path: Path, journal: bool
) -> None:
    # A child process whose stderr is a file; JOURNAL_STREAM names that file (as systemd names
    # the journal's socket) or is absent.
    err_path = tmp_path / "stderr"
    config = serial_config(tmp_path, str(tmp_path / "no-such-tty"))
    with open(err_path, "w") as err:
        status = os.fstat(err.fileno())
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("JOURNAL_STREAM", None)
        if journal:
            env["JOURNAL_STREAM"] = f"{status.st_dev}:{status.st_ino}"
        code = subprocess.run(
            [sys.executable, "-m", "robot", "stop", "--config", str(config)],
            cwd=ROOT,
            env=env,
            stderr=err,
            timeout=60,
            check=False,
        ).returncode
    assert code == 1
    lines = err_path.read_text().splitlines()
    assert len(lines) == 1
    expected = "ERROR robot: motors NOT stopped: [hardware.serial.url] cannot open"
    assert lines[0].startswith(("<3>" if journal else "") + expected)


def test_configure_logging_keeps_existing_handlers() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    configure_logging("DEBUG", io.StringIO(), {})
    assert root.handlers == before  # pytest's handlers are there: nothing added


# --- writable defaults ---------------------------------------------------------------------


def test_default_paths_move_under_state_directory(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "robot.toml"
    path.parent.mkdir()
    text = serial_config(tmp_path, "loop://").read_text()
    without = text.split("[telemetry]")[0]  # no [telemetry], no [learning]: defaults
    path.write_text(without)
    config = load_config(path)
    assert config.telemetry.path == path.parent / "telemetry" / "ticks.jsonl"
    state = tmp_path / "var" / "lib" / "sim2pi"
    moved = with_writable_defaults(config, {"STATE_DIRECTORY": f"{state}:/other"})
    assert moved.telemetry.path == state / "telemetry" / "ticks.jsonl"
    assert moved.learning.state_dir == state / "learning"
    assert with_writable_defaults(config, {}) == config  # not a service: unchanged
    # A path the config chose stays where it is.
    path.write_text(
        without + '\n[telemetry]\npath = "/srv/ticks.jsonl"\n[learning]\nstate_dir = "q"\n'
    )
    chosen = with_writable_defaults(load_config(path), {"STATE_DIRECTORY": str(state)})
    assert chosen.telemetry.path == Path("/srv/ticks.jsonl")
    assert chosen.learning.state_dir == path.parent / "q"


@pytest.mark.slow
def test_run_writes_telemetry_under_state_directory(
    tmp_path: Path, world: tuple[Microcontroller, NotifySocket]
) -> None:
    mcu, notify = world
    assert mcu.path is not None
    etc = tmp_path / "etc"
    etc.mkdir()
    config = etc / "robot.toml"
    text = serial_config(tmp_path, mcu.path).read_text().split("[telemetry]")[0]
    config.write_text(text + "\n[telemetry]\nenabled = true\n")
    state = tmp_path / "state"
    state.mkdir()
    service = Service(
        [sys.executable, "-m", "robot", "run", "--config", str(config), "--max-ticks", "20"],
        service_env(notify, STATE_DIRECTORY=str(state)),
        tmp_path / "service.log",
    )
    try:
        code = service.process.wait(timeout=60)
    finally:
        service.close()
    assert code == 0, service.log()
    assert f"telemetry to {state / 'telemetry' / 'ticks.jsonl'}" in service.log()
    assert len((state / "telemetry" / "ticks.jsonl").read_text().splitlines()) == 20
    assert not (etc / "telemetry").exists()


# --- signals -------------------------------------------------------------------------------


def test_request_stop_cannot_deadlock_on_the_wake_event(bundle) -> None:
    # A signal handler runs on the loop's own thread, possibly while that thread holds the wake
    # event's lock inside Event.wait. Here the calling thread holds that lock, as then.
    from robot.cli.bench import simulated_gpio
    from robot.config import LoopConfig
    from robot.control.clock import SimulatedClock
    from robot.control.decider import GreedyDecider
    from robot.control.loop import ControlLoop
    from robot.hardware.gpio import GpioHardware
    from robot.inference.policy import load_policy

    factory, gpio, _ = simulated_gpio(bundle.spec.observation.names)
    clock = SimulatedClock()
    hardware = GpioHardware(
        gpio, bundle.spec.observation.names, clock=clock.now, pin_factory=factory
    )
    try:
        loop = ControlLoop(
            hardware,
            GreedyDecider.for_spec(load_policy(bundle, "qtable"), bundle.spec),
            bundle.spec,
            LoopConfig(),
            clock=clock,
        )
        returned = threading.Event()

        def interrupted_inside_wait() -> None:
            with loop.wake._cond:  # type: ignore[attr-defined]
                loop.request_stop("SIGTERM")
                returned.set()

        thread = threading.Thread(target=interrupted_inside_wait, daemon=True)
        thread.start()
        thread.join(timeout=5.0)
        assert returned.is_set(), "request_stop deadlocked on the wake event's lock"
        assert loop.wake.wait(timeout=5.0)
        assert loop.stop_requested == "SIGTERM"
    finally:
        hardware.close()
        factory.reset()


def test_an_unexpected_error_while_reloading_is_logged_and_the_next_reload_works(
    tmp_path: Path, bundle, caplog: pytest.LogCaptureFixture
) -> None:
    from robot.cli.bench import simulated_gpio
    from robot.control.clock import SimulatedClock
    from robot.control.decider import GreedyDecider
    from robot.control.loop import ControlLoop
    from robot.hardware.gpio import GpioHardware
    from robot.inference.policy import load_policy
    from robot.runtime.reload import Reloader
    from robot.systemd.sdnotify import Notifier

    path = serial_config(tmp_path, "loop://")
    config = load_config(path)
    factory, gpio, _ = simulated_gpio(bundle.spec.observation.names)
    clock = SimulatedClock()
    hardware = GpioHardware(
        gpio, bundle.spec.observation.names, clock=clock.now, pin_factory=factory
    )
    calls: list[Path] = []

    def load(config_path: Path):
        calls.append(config_path)
        if len(calls) == 1:
            raise RuntimeError("interpreter exploded")
        return load_config(config_path)

    try:
        loop = ControlLoop(
            hardware,
            GreedyDecider.for_spec(load_policy(bundle, "qtable"), bundle.spec),
            bundle.spec,
            config.loop,
            clock=clock,
        )
        reloader = Reloader(loop, config, open_bundle(config), Notifier(None), load=load).start()
        try:
            reloader.request()
            deadline = time.monotonic() + 10.0
            while reloader.refused < 1:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            assert loop._pending is None  # type: ignore[attr-defined]
            reloader.request()
            while reloader.switched < 1:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        finally:
            reloader.close()
        assert loop._pending.label == "bundle obstacle_bundle, policy qtable"  # type: ignore[attr-defined]
    finally:
        hardware.close()
        factory.reset()
    assert "reload refused" in caplog.text and "RuntimeError: interpreter exploded" in caplog.text
    assert calls == [path, path]


@pytest.mark.tflite
def test_the_loop_switches_policy_rate_and_telemetry_at_a_tick_boundary(
    tmp_path: Path, bundle
) -> None:
    from robot.cli.bench import simulated_gpio
    from robot.config import LoopConfig, TelemetryConfig
    from robot.control.clock import SimulatedClock
    from robot.control.decider import GreedyDecider
    from robot.control.loop import ControlLoop, Replacement
    from robot.control.telemetry import TelemetryWriter
    from robot.hardware.gpio import GpioHardware
    from robot.inference.policy import load_policy

    factory, gpio, _ = simulated_gpio(bundle.spec.observation.names)
    clock = SimulatedClock()
    hardware = GpioHardware(
        gpio, bundle.spec.observation.names, clock=clock.now, pin_factory=factory
    )
    old = TelemetryWriter(TelemetryConfig(enabled=True, path=tmp_path / "old.jsonl"))
    new = TelemetryWriter(TelemetryConfig(enabled=True, path=tmp_path / "new.jsonl"))
    try:
        loop = ControlLoop(
            hardware,
            GreedyDecider.for_spec(load_policy(bundle, "qtable"), bundle.spec),
            bundle.spec,
            LoopConfig(rate_hz=20.0),
            clock=clock,
            telemetry=old,
            label="old",
        )
        int8 = GreedyDecider.for_spec(load_policy(bundle, "tflite-int8"), bundle.spec)
        loop.replace(Replacement(bundle.spec, LoopConfig(rate_hz=10.0), new, "new", lambda: int8))
        summary = loop.run(max_ticks=5)
    finally:
        hardware.close()
        factory.reset()
        old.close()
        new.close()
    assert loop.decider is int8 and loop.label == "new" and loop.period_s == 0.1
    assert summary["duration_s"] == pytest.approx(0.4)  # 5 ticks on the 10 Hz grid, not 20 Hz
    assert old.path.read_text() == ""  # switched before the first tick
    ticks = [json.loads(line)["t_s"] for line in new.path.read_text().splitlines()]
    assert [round(b - a, 6) for a, b in itertools.pairwise(ticks)] == [0.1] * 4
