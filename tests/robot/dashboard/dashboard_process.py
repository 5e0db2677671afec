"""``python -m robot dashboard`` as a child process on a free port; the sim config it follows."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.robot.conftest import example

ROOT = Path(__file__).resolve().parents[3]


def sim_config(tmp_path: Path, *, max_bytes: int = 10_000_000, every: int = 1) -> Path:
    """reference_sim.toml with telemetry on (``every``-th tick, rotating at ``max_bytes``)."""
    return example(
        tmp_path,
        "reference_sim.toml",
        ("[telemetry]\nenabled = false\n", "[telemetry]\nenabled = true\n"),
        ("every_n_ticks = 10 ", f"every_n_ticks = {every} "),
        ("max_bytes = 10_000_000 ", f"max_bytes = {max_bytes} "),
        ('policy = "tflite"', 'policy = "qtable"'),
    )


def without_file_permissions() -> list[str]:
    """A command prefix under which file permissions hold for this test's user: root (a
    container's CI) loses the capabilities that bypass them; anyone else needs nothing."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


class DashboardRun:
    """The dashboard on ``config``, on a port the system picks; its log read as it comes.
    ``prefix`` runs it under another command that execs it (``prlimit``, ``setpriv``)."""

    def __init__(self, config: Path, *extra: str, prefix: Sequence[str] = ()) -> None:
        command = [sys.executable, "-m", "robot", "dashboard", "--config", str(config), *extra]
        self.process = subprocess.Popen(
            [*prefix, *command],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = self._wait_for_url()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def _wait_for_url(self, timeout_s: float = 20.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.lines:
                if found := re.search(r"dashboard: (http://\S+/) following", line):
                    return found.group(1)
            assert self.process.poll() is None, "".join(self.lines)
            time.sleep(0.02)
        raise AssertionError(f"the dashboard never said where it listens: {self.lines}")

    def state(self) -> dict[str, Any]:
        """``/state.json`` now (strict JSON: NaN or Infinity fail)."""
        with urllib.request.urlopen(self.url + "state.json", timeout=5) as response:
            return json.load(response, parse_constant=_not_json)

    def log(self) -> str:
        """What it logged so far."""
        return "".join(self.lines)

    def wait_for_log(self, text: str, timeout_s: float = 10.0) -> str:
        """The log once it holds ``text`` (lines after the URL may lag under load)."""
        deadline = time.monotonic() + timeout_s
        while text not in self.log():
            assert self.process.poll() is None, self.log()
            assert time.monotonic() < deadline, self.log()
            time.sleep(0.05)
        return self.log()

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM, then the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._reader.join(timeout=5)


def _not_json(name: str) -> None:
    raise AssertionError(f"/state.json holds {name}: not valid JSON")
