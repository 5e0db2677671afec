"""sd_notify over real AF_UNIX datagram sockets that the tests bind (path and abstract)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot.systemd.sdnotify import Notifier, WatchdogGate, parse_notify_address

ROOT = Path(__file__).resolve().parents[3]


class Receiver:
    """What systemd does: a bound datagram socket that collects notify messages."""

    def __init__(self, sock: socket.socket, env_value: str) -> None:
        self.sock = sock
        self.env_value = env_value

    def messages(self, timeout_s: float = 0.2) -> list[str]:
        """Every datagram received so far (waiting up to ``timeout_s`` for the first)."""
        out: list[str] = []
        self.sock.settimeout(timeout_s)
        try:
            while True:
                out.append(self.sock.recv(4096).decode())
                self.sock.settimeout(0.02)
        except TimeoutError:
            return out


@pytest.fixture
def path_receiver() -> Iterator[Receiver]:
    """A datagram socket bound to a filesystem path (short: sun_path holds 108 bytes)."""
    with tempfile.TemporaryDirectory(prefix="sdn") as tmp:
        path = os.path.join(tmp, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        try:
            yield Receiver(sock, path)
        finally:
            sock.close()


@pytest.fixture
def abstract_receiver() -> Iterator[Receiver]:
    """A datagram socket bound in the abstract namespace, as systemd's own socket is."""
    name = f"sim2pi-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    try:
        yield Receiver(sock, "@" + name)
    finally:
        sock.close()


def test_without_notify_socket_every_call_is_a_quiet_no_op(caplog):
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    with caplog.at_level(logging.DEBUG):
        assert notifier.ready() is False
        assert notifier.watchdog() is False
        assert notifier.status("1 Hz") is False
        assert notifier.stopping() is False
    assert notifier.send_errors == 0
    assert caplog.records == []
    assert WatchdogGate(notifier).healthy_tick() is False


@pytest.mark.parametrize("receiver_fixture", ["path_receiver", "abstract_receiver"])
def test_messages_arrive_as_datagrams(receiver_fixture, request):
    receiver: Receiver = request.getfixturevalue(receiver_fixture)
    with Notifier.from_environment({"NOTIFY_SOCKET": receiver.env_value}) as notifier:
        assert notifier.enabled
        assert notifier.ready()
        assert notifier.watchdog()
        assert notifier.status("50.0 Hz, 0 overruns, policy qtable")
        assert notifier.stopping()
        assert notifier.notify(READY=1, STATUS="up")
    assert receiver.messages() == [
        "READY=1\n",
        "WATCHDOG=1\n",
        "STATUS=50.0 Hz, 0 overruns, policy qtable\n",
        "STOPPING=1\n",
        "READY=1\nSTATUS=up\n",
    ]
    assert notifier.sent == 5
    assert notifier.send_errors == 0


def test_ready_with_status_and_reloading_carry_their_fields(path_receiver):
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path_receiver.env_value})
    before_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.ready("bundle demo-1 loaded")
    notifier.reloading()
    notifier.reloading(monotonic_usec=1234)
    first, second, third = path_receiver.messages()
    assert first == "READY=1\nSTATUS=bundle demo-1 loaded\n"
    lines = second.splitlines()
    assert lines[0] == "RELOADING=1"
    key, usec = lines[1].split("=")
    assert key == "MONOTONIC_USEC"
    assert before_usec <= int(usec) <= before_usec + 10_000_000
    assert third == "RELOADING=1\nMONOTONIC_USEC=1234\n"


def test_a_newline_in_a_status_cannot_inject_a_field(path_receiver):
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path_receiver.env_value})
    notifier.status("sensor lost\nREADY=1")
    assert path_receiver.messages() == ["STATUS=sensor lost READY=1\n"]


def test_a_malformed_field_name_is_a_programming_error():
    notifier = Notifier.from_environment({})
    with pytest.raises(ValueError, match="upper-case"):
        notifier.notify(ready=1)


def test_watchdog_interval_is_half_of_watchdog_usec():
    env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "2000000"}
    assert Notifier.from_environment(env).watchdog_interval_s == 1.0
    env_for_us = {**env, "WATCHDOG_PID": str(os.getpid())}
    assert Notifier.from_environment(env_for_us).watchdog_interval_s == 1.0
    assert Notifier.from_environment(env_for_us, pid=os.getpid() + 1).watchdog_interval_s is None
    assert Notifier.from_environment({**env, "WATCHDOG_USEC": "0"}).watchdog_interval_s is None
    # No socket to ping: no watchdog either.
    assert Notifier.from_environment({"WATCHDOG_USEC": "2000000"}).watchdog_interval_s is None


def test_bad_environment_values_warn_and_disable(caplog):
    with caplog.at_level(logging.WARNING):
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": "relative/sock"})
        assert not notifier.enabled
        watchdogless = Notifier.from_environment({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "5s"})
        assert watchdogless.enabled
        assert watchdogless.watchdog_interval_s is None
    text = caplog.text
    assert "NOTIFY_SOCKET='relative/sock'" in text and "absolute socket path" in text
    assert "WATCHDOG_USEC='5s'" in text and "WatchdogSec=" in text


def test_parse_notify_address():
    assert parse_notify_address("/run/systemd/notify") == "/run/systemd/notify"
    assert parse_notify_address("@abc") == "\0abc"
    with pytest.raises(ValueError, match="vsock"):
        parse_notify_address("vsock:2:1234")


def test_a_vanished_socket_is_counted_and_logged_once(caplog):
    with tempfile.TemporaryDirectory(prefix="sdn") as tmp:
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": os.path.join(tmp, "gone")})
        with caplog.at_level(logging.DEBUG, logger="robot.systemd.sdnotify"):
            results = [notifier.watchdog() for _ in range(3)]
    assert results == [False, False, False]
    assert notifier.send_errors == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "WATCHDOG" in warnings[0].getMessage() and "keeps running" in warnings[0].getMessage()


def test_a_receiver_that_never_reads_does_not_block_the_sender(path_receiver):
    # A Unix datagram queue holds a few hundred messages (net.unix.max_dgram_qlen); past that a
    # blocking sendto would stall the control loop. Ours must return at once and count the loss.
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path_receiver.env_value})
    start_s = time.monotonic()
    for _ in range(5000):
        notifier.watchdog()
    elapsed_s = time.monotonic() - start_s
    assert elapsed_s < 2.0
    assert notifier.sent > 0
    assert notifier.send_errors > 0
    assert notifier.sent + notifier.send_errors == 5000


def test_recovers_when_the_receiver_comes_back():
    with tempfile.TemporaryDirectory(prefix="sdn") as tmp:
        path = os.path.join(tmp, "notify")
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": path})
        assert notifier.ready() is False
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        try:
            assert notifier.ready() is True
            assert Receiver(sock, path).messages() == ["READY=1\n"]
        finally:
            sock.close()
    assert notifier.send_errors == 1


class FakeClock:
    """A monotonic clock the test advances by hand (seconds)."""

    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_watchdog_gate_pings_at_most_once_per_interval(path_receiver):
    notifier = Notifier.from_environment(
        {"NOTIFY_SOCKET": path_receiver.env_value, "WATCHDOG_USEC": "1000000"}
    )
    clock = FakeClock()
    gate = WatchdogGate(notifier, clock=clock)
    assert gate.interval_s == 0.5
    sent = []
    # 32 Hz ticks (a period exact in binary) for 3.125 s: the first tick pings, then one ping
    # every 0.5 s, i.e. every 16 ticks.
    for _ in range(100):
        sent.append(gate.healthy_tick())
        clock.now_s += 0.03125
    assert [i for i, s in enumerate(sent) if s] == [0, 16, 32, 48, 64, 80, 96]
    assert path_receiver.messages() == ["WATCHDOG=1\n"] * 7
    assert gate.pings == 7


def test_a_stalled_loop_sends_no_pings(path_receiver):
    notifier = Notifier.from_environment(
        {"NOTIFY_SOCKET": path_receiver.env_value, "WATCHDOG_USEC": "1000000"}
    )
    clock = FakeClock()
    gate = WatchdogGate(notifier, clock=clock)
    assert gate.healthy_tick()
    # The loop stalls (or its ticks are unhealthy, so it stops calling healthy_tick) for 3 s:
    # nothing pings on its behalf, so systemd's watchdog will fire.
    clock.now_s += 3.0
    assert path_receiver.messages() == ["WATCHDOG=1\n"]
    assert path_receiver.messages(timeout_s=0.05) == []
    # The first healthy tick afterwards pings at once.
    assert gate.healthy_tick()
    assert path_receiver.messages() == ["WATCHDOG=1\n"]


def test_watchdog_gate_without_watchdog_and_with_an_explicit_interval(path_receiver):
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path_receiver.env_value})
    assert WatchdogGate(notifier).healthy_tick() is False
    clock = FakeClock()
    gate = WatchdogGate(notifier, clock=clock, interval_s=0.1)
    assert gate.healthy_tick() and not gate.healthy_tick()
    with pytest.raises(ValueError, match="interval_s=0"):
        WatchdogGate(notifier, interval_s=0)


def test_a_child_process_inherits_the_socket_from_its_environment(abstract_receiver):
    # The service's real situation: systemd sets the variables, the Python process reads them.
    script = (
        "from robot.systemd.sdnotify import Notifier, WatchdogGate\n"
        "n = Notifier.from_environment()\n"
        "n.ready('child up')\n"
        "g = WatchdogGate(n)\n"
        "print(g.interval_s, g.healthy_tick(), n.stopping())\n"
    )
    env = {
        **os.environ,
        "NOTIFY_SOCKET": abstract_receiver.env_value,
        "WATCHDOG_USEC": "3000000",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("WATCHDOG_PID", None)
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1.5", "True", "True"]
    assert abstract_receiver.messages() == [
        "READY=1\nSTATUS=child up\n",
        "WATCHDOG=1\n",
        "STOPPING=1\n",
    ]


SIM_CONFIG = """\
[bundle]
path = "{bundle}"
policy = "qtable"

[loop]
rate_hz = 50.0

[hardware]
backend = "gym"

[hardware.gym]
env_id = "trainer.envs:sim2pi/ObstacleAvoid-v0"
channels = {{ left_distance_m = 0, front_distance_m = 1, right_distance_m = 2 }}
seed = 0
"""


@pytest.mark.trainer
def test_the_runtime_under_a_notify_socket_readies_pings_and_stops(tmp_path, path_receiver):
    # The runtime as systemd starts it, with the simulator as a Gymnasium world in real time
    # (`--real-time`: software in the loop runs on simulated time otherwise): `python -m trainer
    # sil run` is `python -m robot run` with the laptop-only gym backend.
    config = tmp_path / "robot.toml"
    config.write_text(SIM_CONFIG.format(bundle=ROOT / "tests" / "fixtures" / "obstacle_bundle"))
    env = {
        **os.environ,
        "NOTIFY_SOCKET": path_receiver.env_value,
        "WATCHDOG_USEC": "400000",  # WatchdogSec=0.4s: a ping every 0.2 s
        "PYTHONPATH": str(ROOT),
    }
    env.pop("WATCHDOG_PID", None)
    started_at_s = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "trainer", "sil", "run", "--config", str(config), "--real-time"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        messages: list[str] = []
        path_receiver.sock.settimeout(30.0)  # the first message waits for start-up
        while messages.count("WATCHDOG=1\n") < 4:
            messages.append(path_receiver.sock.recv(4096).decode())
            path_receiver.sock.settimeout(2.0)
        sigterm_at_s = time.monotonic()
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=10)
        stopped_after_s = time.monotonic() - sigterm_at_s
    finally:
        if process.poll() is None:
            process.kill()
        output = process.communicate()[0]
    messages += path_receiver.messages()
    assert returncode == 0, output
    assert stopped_after_s < 1.0, output
    assert messages[0].startswith("READY=1\n")
    assert messages[-1] == "STOPPING=1\n"
    # Ticks run at 50 Hz, but pings come at most once per 0.2 s: no more than the time the
    # process ran allows (datagrams may be read in bursts, so their arrival times prove nothing).
    pings = messages.count("WATCHDOG=1\n")
    assert 4 <= pings <= (sigterm_at_s - started_at_s) / 0.2 + 1
