"""SIGTERM and SIGINT at the edges of ``robot run``: the moment ``main`` starts, in the middle of
the TFLite probe's child, and while the process exits. Real processes and real signals, over a
pty whose far end the test plays; each must end with exit 0, no traceback, and no motor driven
outside the loop.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot.cli.signals import StartupStopped, StopLatch
from robot.inference.tflite_runtimes import FORCE_ENV
from tests.robot.cli.robot_process import (
    RobotRun,
    children,
    feeding,
    serial_config,
    wait_until_latched,
)
from tests.robot.inference.test_runtime_probe import needs_runtime
from tests.robot.mcu import Microcontroller

STOP_SIGNALS = [signal.SIGTERM, signal.SIGINT]


@pytest.fixture
def mcu() -> Iterator[Microcontroller]:
    far_end = Microcontroller()
    yield far_end
    far_end.close()


def test_the_latch_notes_a_signal_and_start_up_ends_at_its_next_step() -> None:
    latch = StopLatch()
    try:
        latch.check("reading the config")  # nothing yet: start-up goes on
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(StartupStopped, match=r"SIGTERM during start-up \(noticed after "):
            latch.check("verifying the bundle")
        assert not latch.loop_started
    finally:
        latch.restore()
    assert signal.getsignal(signal.SIGTERM) == latch.previous[signal.SIGTERM]


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: s.name)
def test_a_stop_signal_as_soon_as_main_catches_it_ends_start_up_with_exit_0(
    tmp_path: Path, mcu: Microcontroller, signum: signal.Signals
) -> None:
    # The moment the latch is in place, `main` is still importing the commands (numpy, …).
    run = RobotRun(serial_config(tmp_path, mcu), state_dir=tmp_path / "state")
    latched_after_s = wait_until_latched(run)
    run.send(signum)
    ending = run.finish(mcu)
    ending.check_clean()
    lines = [line for line in ending.stderr.splitlines() if "during start-up" in line]
    assert len(lines) == 1, ending.stderr
    assert f"{signum.name} during start-up (noticed after " in lines[0]
    assert "no motor was driven" in lines[0]
    assert ending.drives == []  # the backend never opened
    print(f"latched {latched_after_s:.3f} s after launch")


@needs_runtime
@pytest.mark.parametrize(
    ("signum", "group"),
    [(signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["SIGTERM-to-robot", "SIGINT-to-the-group"],
)
def test_a_stop_signal_while_the_tflite_probe_runs_its_child_exits_0(
    tmp_path: Path,
    mcu: Microcontroller,
    monkeypatch: pytest.MonkeyPatch,
    signum: signal.Signals,
    group: bool,
) -> None:
    # A fresh state directory: no cached verdict, so start-up runs a probe child. To the group,
    # as Ctrl-C at a terminal does (and systemd's SIGTERM to the whole unit): the child dies too.
    monkeypatch.delenv(FORCE_ENV, raising=False)
    run = RobotRun(serial_config(tmp_path, mcu, "tflite-int8"), state_dir=tmp_path / "fresh")
    deadline = time.monotonic() + 30.0
    while not children(run.pid):
        assert run.alive() and time.monotonic() < deadline, "".join(run.lines)
        time.sleep(0.002)
    run.send(signum, group=group)
    ending = run.finish(mcu)
    ending.check_clean()
    lines = [line for line in ending.stderr.splitlines() if "during start-up" in line]
    assert len(lines) == 1, ending.stderr
    assert ending.drives == []


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: s.name)
def test_stop_signals_while_the_process_exits_change_nothing(
    tmp_path: Path, mcu: Microcontroller, signum: signal.Signals
) -> None:
    # The loop ends by itself (--max-ticks); from its summary line until the process is gone,
    # the signal comes again and again: exit 0 all the same, the motors stopped last.
    run = RobotRun(
        serial_config(tmp_path, mcu, "qtable"), "--max-ticks", "10", state_dir=tmp_path / "s"
    )
    with feeding(mcu):
        run.wait_for_line("summary:")
        sent = 0
        while run.send(signum):
            sent += 1
            time.sleep(0.0005)
    ending = run.finish(mcu)
    ending.check_clean()
    assert "exit: max_ticks (10)" in ending.stderr
    assert sent >= 1
    print(f"{sent} × {signum.name} while exiting")
