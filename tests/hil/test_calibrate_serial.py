"""``python -m robot calibrate`` on the ``serial`` backend: real pyserial, a real child process,
the MCU emulator on a pty stepping the simulated world in real time (a short plan)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from robot.calibration.plan import build_plan
from robot.config import SimConfig, load_config
from robot.hardware.sim.backend import build_world
from robot.hardware.sim.mcu_emulator import McuEmulator
from tests.robot.conftest import FIXTURE_BUNDLE, ROOT

SERIAL_TOML = """
[bundle]
path = "{bundle}"
policy = "qtable"

[loop]
rate_hz = 20.0

[hardware]
backend = "serial"

[hardware.serial]
url = "{url}"
baudrate = 115200
ranges_per_frame = 3
channels = {{ left_distance_m = 0, front_distance_m = 1, right_distance_m = 2 }}
link_timeout_s = 0.5

[calibration]
duties = [0.5]
pivot_duties = [0.6]
still_s = 0.5
step_s = 0.5
pivot_s = 0.3
pause_s = 0.2
"""


def test_a_short_drive_over_the_serial_link(tmp_path: Path) -> None:
    emulator = McuEmulator(build_world(SimConfig(gpio=None, seed=0)))  # type: ignore[arg-type]
    config = tmp_path / "robot.toml"
    config.write_text(SERIAL_TOML.format(bundle=FIXTURE_BUNDLE.as_posix(), url=emulator.path))
    log = tmp_path / "calibration.jsonl"
    command = [sys.executable, "-W", "ignore", "-m", "robot", "calibrate", "--config", str(config)]
    env = {**os.environ, "SIM2PI_STATE_DIR": str(tmp_path / "state")}
    try:
        done = subprocess.run(
            [*command, "--log", str(log)],
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        applied = [(left, right) for _, left, right in emulator.applied]
    finally:
        emulator.close()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    plan = build_plan(load_config(config).calibration)
    assert f"calibrate: complete: all {len(plan)} steps driven" in output, output
    meta = json.loads((tmp_path / "calibration.jsonl.meta.json").read_text())
    assert meta["hardware"]["backend"] == "serial" and "link" in meta["summary"]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == meta["summary"]["ticks"]

    # The microcontroller applied the plan's commands, in order, and a stop last.
    def changes(pairs: list[tuple[float, float]]) -> list[tuple[float, float]]:
        moving = [pair for pair in pairs if pair != (0.0, 0.0)]
        return [pair for i, pair in enumerate(moving) if i == 0 or moving[i - 1] != pair]

    wanted = changes([(step.left, step.right) for step in plan])
    # spins at the one rung, the reversals at it, then each wheel forward and back
    assert wanted[:2] == [(-0.5, 0.5), (0.5, -0.5)] and len(wanted) > 20
    assert wanted[-4:] == [(0.6, 0.0), (-0.6, 0.0), (0.0, 0.6), (0.0, -0.6)]
    assert changes(applied) == wanted
    assert applied[-1] == (0.0, 0.0)
