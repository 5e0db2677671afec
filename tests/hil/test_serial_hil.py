"""Serial hardware-in-the-loop: the runtime's serial backend (real pyserial on a pty) drives
the simulated robot inside the microcontroller emulator."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from robot.config import LoopConfig, SerialConfig, SimConfig
from robot.control.decider import GreedyDecider
from robot.control.loop import ControlLoop
from robot.hardware.serial_link import SerialHardware
from robot.hardware.sim.backend import build_world
from robot.hardware.sim.mcu_emulator import McuEmulator
from robot.inference.policy import load_policy
from shared.bundle import read_bundle
from shared.spec import MotorCommand

BUNDLE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "obstacle_bundle"
CHANNELS = (("left_distance_m", 0), ("front_distance_m", 1), ("right_distance_m", 2))


def _emulator(seed: int) -> McuEmulator:
    return McuEmulator(build_world(SimConfig(gpio=None, seed=seed)))  # type: ignore[arg-type]


def _link(emulator: McuEmulator) -> SerialHardware:
    config = SerialConfig(url=emulator.path, channels=CHANNELS, ranges_per_frame=3)
    bundle = read_bundle(BUNDLE)
    link = SerialHardware(config, bundle.spec.observation.names, clock=time.monotonic)
    assert link.wait_connected(2.0)
    return link


@pytest.mark.slow
def test_the_policy_drives_the_emulated_robot_over_a_pty(caplog: pytest.LogCaptureFixture) -> None:
    bundle = read_bundle(BUNDLE)
    emulator = _emulator(seed=1)
    link = _link(emulator)
    loop = ControlLoop(
        link,
        GreedyDecider.for_spec(load_policy(bundle, "qtable"), bundle.spec),
        bundle.spec,
        LoopConfig(rate_hz=20.0),
    )
    # Garbage on the line after a second: dropped frames, the loop carries on.
    threading.Timer(1.0, emulator.send_raw, args=(b"\x00\xff$S,garbage*00\nnoise\n",)).start()
    try:
        with caplog.at_level(logging.INFO):
            summary = loop.run(max_ticks=60)  # 3 s of real time
        time.sleep(0.1)  # the final stop frame reaches the emulator
        assert emulator.world.duties == (0.0, 0.0), "the loop's exit did not stop the motors"
    finally:
        link.close()
        emulator.close()
    assert summary["decisions"] > 40, summary
    assert emulator.world.distance_travelled_m > 0.5
    assert emulator.drives >= 2 and emulator.heartbeats > 20
    assert emulator.failsafe_stops == 0


@pytest.mark.slow
def test_heartbeat_stop_and_port_vanishing_stop_the_motors() -> None:
    emulator = _emulator(seed=2)
    link = _link(emulator)
    try:
        link.drive(MotorCommand(0.5, 0.5))
        time.sleep(0.1)
        assert emulator.world.duties == (0.5, 0.5)
        # The Pi goes quiet: the emulated microcontroller stops by itself within its timeout.
        time.sleep(0.25 + 0.15)
        assert emulator.world.duties == (0.0, 0.0)
        assert emulator.failsafe_stops == 1
        time.sleep(0.1)
        # The next $S frames carry the microcontroller's fail-safe flag: a fault for the loop.
        assert link.snapshot().faults, "the microcontroller's fail-safe flag raised no fault"
        # The port vanishes: the backend reports a fault, so the loop stops the motors.
        emulator.unplug()
        time.sleep(0.8)  # longer than link_timeout_s (0.5 s)
        assert link.snapshot().faults, "a vanished port left the snapshot without a fault"
    finally:
        link.close()
        emulator.close()
