"""``python -m robot run`` as the service manager runs it: a real child process on a serial
config whose microcontroller is a pty the test plays, signalled at chosen moments.

Linux only, as the robot: ``/proc/<pid>/status`` says when the process catches SIGTERM (so
``main``'s stop latch is in place) and ``/proc/<pid>/task/*/children`` shows the TFLite probe's
child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from robot.hardware import frames
from tests.robot.conftest import example
from tests.robot.inference.test_runtime_probe import REAL
from tests.robot.mcu import Microcontroller

ROOT = Path(__file__).resolve().parents[3]
#: The policy whose start-up includes the TFLite probe, where a runtime is installed.
POLICY = "tflite-int8" if REAL is not None else "qtable"


def serial_config(tmp_path: Path, mcu: Microcontroller, policy: str = POLICY) -> Path:
    """The reference serial config on ``mcu``'s pty, without telemetry."""
    return example(
        tmp_path,
        "reference_serial.toml",
        ('url = "/dev/ttyACM0"', f'url = "{mcu.path}"'),
        ('policy = "tflite-int8"', f'policy = "{policy}"'),
        ("[telemetry]\nenabled = true\n", "[telemetry]\nenabled = false\n"),
    )


@contextlib.contextmanager
def feeding(mcu: Microcontroller, period_s: float = 0.02) -> Iterator[None]:
    """Sensor frames on the line (1.5 m all round, so the policy drives) until the block ends."""
    done = threading.Event()

    def feed() -> None:
        while not done.is_set():
            mcu.send_ranges((1.5, 1.5, 1.5))
            done.wait(period_s)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        yield
    finally:
        done.set()
        feeder.join()


def catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler for ``signum`` now (False once it has gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask, 16) >> (signum - 1) & 1)


def wait_until_latched(run: RobotRun, timeout_s: float = 20.0) -> float:
    """Wait until ``main``'s stop latch catches SIGTERM; the seconds that took."""
    started = time.monotonic()
    while not catches(run.pid, signal.SIGTERM):
        assert run.alive(), "it exited before it caught SIGTERM"
        assert time.monotonic() - started < timeout_s, "SIGTERM never caught"
        time.sleep(0.001)
    return time.monotonic() - started


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (the TFLite probe's, during start-up)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


@dataclass
class Ending:
    """How a run ended: its exit code, its log, and the frames the microcontroller heard."""

    returncode: int
    stderr: str
    received: list[frames.Frame] = field(default_factory=list)

    @property
    def drives(self) -> list[frames.DriveFrame]:
        """Every ``$D`` the microcontroller heard, in order."""
        return [f for f in self.received if isinstance(f, frames.DriveFrame)]

    def check_clean(self) -> None:
        """Exit 0, no traceback or error in the log, and the motors stopped on every path: no
        ``$D`` that drives before the first valid decision, and a stop as the last frame."""
        assert self.returncode == 0, self.stderr
        for bad in ("Traceback", "ERROR", "CRITICAL", "Exception ignored"):
            assert bad not in self.stderr, self.stderr
        drove = [f for f in self.drives if (f.left, f.right) != (0.0, 0.0)]
        if "first valid decision" not in self.stderr:
            assert drove == [], "a motor was driven before the loop's first decision"
        if self.received:
            last = self.received[-1]
            assert isinstance(last, frames.DriveFrame), self.received[-3:]
            assert (last.left, last.right) == (0.0, 0.0), last


class RobotRun:
    """``python -m robot run --config …`` in a session of its own, its log read as it comes."""

    def __init__(
        self,
        config: Path,
        *extra: str,
        state_dir: Path,
        command: tuple[str, ...] = ("robot", "run"),
    ) -> None:
        """``command``: the module and its command (``("trainer", "sil", "run")`` for SIL)."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", *command, "--config", str(config), *extra],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "SIM2PI_STATE_DIR": str(state_dir)},
            start_new_session=True,  # its own process group: the test's is never signalled
        )
        self.pid = self.process.pid
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def alive(self) -> bool:
        """Whether it is still running."""
        return self.process.poll() is None

    def wait_for_line(self, text: str, timeout_s: float = 20.0) -> None:
        """Wait until a log line contains ``text``."""
        deadline = time.monotonic() + timeout_s
        while not any(text in line for line in self.lines):
            assert self.alive() or self._reader.is_alive(), "".join(self.lines)
            assert time.monotonic() < deadline, f"no {text!r} in {''.join(self.lines)}"
            time.sleep(0.002)

    def send(self, signum: int, *, group: bool = False) -> bool:
        """Send ``signum`` to the process (``group``: and its children); False if it had ended."""
        if not self.alive():
            return False
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(self.pid, signum)
            else:
                self.process.send_signal(signum)
        return True

    def finish(self, mcu: Microcontroller, timeout_s: float = 60.0) -> Ending:
        """Wait for the process to end, then for the frames still on the line."""
        try:
            self.process.wait(timeout=timeout_s)
        finally:
            if self.alive():
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait()
        self._reader.join(timeout=5.0)
        time.sleep(0.1)  # the microcontroller's reader takes what is left on the line
        return Ending(self.process.returncode, "".join(self.lines), list(mcu.received))
