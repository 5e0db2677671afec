"""End to end over the serial link: ``python -m robot run`` (serial backend, real pyserial) drives
the emulated microcontroller on a pty, compared with the same bundle on the sim backend.

Pi-only (the fixture bundle's Q-table). The emulator runs in real time, so 400 ticks at 20 Hz
(20 s of wall time) instead of the sim backend's thousands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from robot.config import LoopConfig, SimConfig, load_config
from robot.control.decider import GreedyDecider
from robot.control.loop import ControlLoop
from robot.hardware.sim.backend import build_world, open_sim
from robot.hardware.sim.mcu_emulator import McuEmulator
from robot.inference.policy import load_policy
from shared.bundle import read_bundle

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "tests" / "fixtures" / "obstacle_bundle"
SIM_CONFIG = ROOT / "robot" / "examples" / "reference_sim.toml"
TICKS = 400  # 20 s at 20 Hz, in real time
SEED = 3
#: Stated tolerances, serial vs sim: collisions per tick, and distance per tick (relative; the
#: serial run sees sensor frames up to one 50 ms emulator period late, on a shared host).
COLLISIONS_PER_TICK_TOL = 0.01
DISTANCE_REL_TOL = 0.35

SERIAL_TOML = """
[bundle]
path = "{bundle}"
policy = "qtable"

[loop]
rate_hz = 20.0
max_sensor_age_s = 0.3
max_consecutive_overruns = 3

[hardware]
backend = "serial"

[hardware.serial]
url = "{url}"
baudrate = 115200
ranges_per_frame = 3
channels = {{ left_distance_m = 0, front_distance_m = 1, right_distance_m = 2 }}
link_timeout_s = 0.5

[telemetry]
enabled = false
"""


def _sim_rates(ticks: int) -> tuple[float, float]:
    """Collisions and metres per tick of the same bundle (Q-table) on the sim backend."""
    bundle = read_bundle(BUNDLE)
    gpio = load_config(SIM_CONFIG).hardware.gpio
    hardware = open_sim(SimConfig(gpio=gpio, seed=SEED), bundle.spec.observation.names)
    loop = ControlLoop(
        hardware,
        GreedyDecider.for_spec(load_policy(bundle, "qtable"), bundle.spec),
        bundle.spec,
        LoopConfig(rate_hz=20.0),
        clock=hardware.clock,
    )
    try:
        loop.run(max_ticks=ticks)
    finally:
        hardware.close()
    return hardware.collision_steps / ticks, hardware.world.distance_travelled_m / ticks


@pytest.mark.slow
def test_robot_run_over_serial_matches_the_sim_backend(tmp_path: Path) -> None:
    emulator = McuEmulator(build_world(SimConfig(gpio=None, seed=SEED)))  # type: ignore[arg-type]
    config = tmp_path / "robot.toml"
    config.write_text(SERIAL_TOML.format(bundle=BUNDLE.as_posix(), url=emulator.path))
    summary_path = tmp_path / "summary.json"
    env = {**os.environ, "SIM2PI_STATE_DIR": str(tmp_path / "state")}
    try:
        done = subprocess.run(
            [
                *(sys.executable, "-W", "ignore", "-m", "robot", "run", "--config", str(config)),
                *("--max-ticks", str(TICKS), "--summary-json", str(summary_path)),
            ],
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        steps, collision_steps = emulator.steps, emulator.collision_steps
        distance_m = emulator.world.distance_travelled_m
        final_duties = emulator.world.duties
        last_applied = emulator.applied[-1][1:] if emulator.applied else None
    finally:
        emulator.close()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    summary = json.loads(summary_path.read_text())
    assert summary["ticks"] == TICKS, (summary, output)
    assert summary["decisions"] > 0.9 * TICKS, (summary, output)
    # The loop's exit stopped the motors: the last drive frame the emulator applied is (0, 0).
    assert last_applied == (0.0, 0.0) and final_duties == (0.0, 0.0), (last_applied, output)
    # A loaded host may starve the link once or twice (the MCU's own stop, a correct reaction).
    assert emulator.failsafe_stops <= 2, f"the heartbeat stop fired repeatedly: {output}"
    assert distance_m > 0.2 * TICKS * 0.025, f"the robot barely moved: {distance_m:.2f} m"
    # The emulator stepped the world in real time: per tick of the loop, as the sim backend does.
    serial_collisions = collision_steps / TICKS
    serial_distance = distance_m / TICKS
    sim_collisions, sim_distance = _sim_rates(TICKS)
    print(
        f"serial: {serial_collisions:.4f} collisions/tick ({collision_steps} of {steps} emulator "
        f"steps), {serial_distance:.4f} m/tick; sim: {sim_collisions:.4f} collisions/tick, "
        f"{sim_distance:.4f} m/tick"
    )
    rates = (serial_collisions, sim_collisions, serial_distance, sim_distance, summary)
    assert abs(serial_collisions - sim_collisions) <= COLLISIONS_PER_TICK_TOL, rates
    assert abs(serial_distance - sim_distance) <= DISTANCE_REL_TOL * sim_distance, rates
