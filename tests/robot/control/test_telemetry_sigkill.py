"""A SIGKILL loses at most the tick in progress from the telemetry file.

``python -m robot run`` as a real process on the ``serial`` backend against the emulated
microcontroller on a pty: every tick sends it exactly one frame (a drive, a heartbeat or a stop),
so the frames it received count the ticks; the telemetry records every tick. After a SIGKILL the
file holds a record for every tick but the one in progress (and the frames sent before the first
tick: the backend's stop on opening and the loop's stop before its first decision).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.robot.conftest import example
from tests.robot.mcu import Microcontroller, wait_for

ROOT = Path(__file__).resolve().parents[3]
#: Frames that no tick sends: the stop on opening the port, the stop before the first decision.
FRAMES_BEFORE_THE_FIRST_TICK = 2


@pytest.mark.tflite
def test_a_sigkill_loses_at_most_the_tick_in_progress(tmp_path: Path) -> None:
    mcu = Microcontroller()
    telemetry = tmp_path / "ticks.jsonl"
    try:
        config = example(
            tmp_path,
            "reference_serial.toml",
            ('url = "/dev/ttyACM0"', f'url = "{mcu.path}"'),
            ('path = "telemetry/ticks.jsonl"', f"path = {json.dumps(str(telemetry))}"),
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "robot", "run", "--config", str(config)],
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda: len(mcu.received) >= 60, timeout_s=30.0)  # about 3 s at 20 Hz
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
        time.sleep(0.3)  # the emulator reads what was already on the line
        frames = len(mcu.received)
    finally:
        mcu.close()
    assert process.returncode == -signal.SIGKILL
    lines = telemetry.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]  # none torn
    assert [r["tick"] for r in records] == list(range(len(records)))
    ticks_that_sent = frames - FRAMES_BEFORE_THE_FIRST_TICK
    assert ticks_that_sent - 1 <= len(records) <= ticks_that_sent, (frames, len(records))
