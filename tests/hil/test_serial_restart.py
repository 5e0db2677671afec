"""The microcontroller restarts mid-run and its port stays (a board on a UART that resets):
its frames count from 0 again, and the robot must drive again without a lock-out.

Real pyserial on a pty, the emulated microcontroller, the real control loop in real time (~5 s
a case). With the boot flag (``announce_restart``) the new count is taken at once; from firmware
that does not announce restarts, after ``link_timeout_s`` without an accepted frame.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from robot.config import LoopConfig, SerialConfig, SimConfig
from robot.control.decider import GreedyDecider
from robot.control.loop import ControlLoop
from robot.hardware.serial_link import SerialHardware
from robot.hardware.sim.backend import build_world
from robot.hardware.sim.mcu_emulator import PERIOD_S, McuEmulator
from robot.inference.policy import load_policy
from shared.bundle import read_bundle

BUNDLE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "obstacle_bundle"
CHANNELS = (("left_distance_m", 0), ("front_distance_m", 1), ("right_distance_m", 2))
RATE_HZ = 20.0
TICK_S = 1.0 / RATE_HZ
MAX_SENSOR_AGE_S = 0.3
LINK_TIMEOUT_S = 0.5
#: Host slack on top of the protocol's own delays (s): a shared 2-core machine runs threads late.
SLACK_S = 0.25
#: Running before the reset: about 50 frames, so the old count is far ahead of the new one.
RUN_BEFORE_S = 2.5


def _drives(applied: list[tuple[float, float, float]], start_s: float, end_s: float) -> list:
    return [a for a in applied if start_s <= a[0] < end_s and (a[1], a[2]) != (0.0, 0.0)]


@pytest.mark.parametrize("announce", [True, False], ids=["boot-flag", "unannounced"])
def test_a_board_that_resets_without_the_port_vanishing_drives_again(announce: bool) -> None:
    bundle = read_bundle(BUNDLE)
    world = build_world(SimConfig(gpio=None, seed=4))  # type: ignore[arg-type]
    emulator = McuEmulator(world, announce_restart=announce)
    config = SerialConfig(
        url=emulator.path or "",
        channels=CHANNELS,
        ranges_per_frame=3,
        link_timeout_s=LINK_TIMEOUT_S,
    )
    link = SerialHardware(config, bundle.spec.observation.names, clock=time.monotonic)
    decider = GreedyDecider.for_spec(load_policy(bundle, "qtable"), bundle.spec)
    loop_config = LoopConfig(rate_hz=RATE_HZ, max_sensor_age_s=MAX_SENSOR_AGE_S)
    loop = ControlLoop(link, decider, bundle.spec, loop_config)
    summary: dict = {}
    runner = threading.Thread(target=lambda: summary.update(loop.run()))
    try:
        assert link.wait_connected(2.0)
        runner.start()
        time.sleep(RUN_BEFORE_S)
        reset_s = time.monotonic()
        emulator.reset()
        time.sleep(LINK_TIMEOUT_S + 1.5)
    finally:
        loop.request_stop("test over")
        runner.join(timeout=10.0)
        link.close()
        emulator.close()
    applied = emulator.applied
    assert _drives(applied, 0.0, reset_s), "it never drove before the reset"
    assert emulator.resets == 1
    # The motors stop: at once with the boot flag (the board holds them until the Pi's stop);
    # without it, once the readings the Pi holds are older than max_sensor_age_s.
    after = [a for a in applied if a[0] >= reset_s]
    stops = [a for a in after if (a[1], a[2]) == (0.0, 0.0)]
    assert stops, "no stop reached the board after its reset"
    # The Pi's own reason: the boot frame's fail-safe flag (fault), or readings gone stale.
    assert summary["stops"]["fault" if announce else "stale"]["events"] >= 1, summary["stops"]
    limit_s = reset_s + MAX_SENSOR_AGE_S + TICK_S + PERIOD_S + SLACK_S
    assert stops[0][0] < limit_s, stops[0][0] - reset_s
    # … are held stopped while the Pi has no frame in sequence …
    quiet_until_s = reset_s + (0.0 if announce else LINK_TIMEOUT_S - PERIOD_S)
    assert not _drives(applied, stops[0][0], quiet_until_s)
    # … and the robot drives again within the link's timeout (plus slack), not after the new
    # count has caught up with the old one (RUN_BEFORE_S and more).
    again = _drives(applied, stops[0][0], float("inf"))
    assert again, "it never drove again after the reset"
    assert again[0][0] - reset_s < LINK_TIMEOUT_S + PERIOD_S + SLACK_S, again[0][0] - reset_s
    assert summary["exit_reason"] == "test over"
    assert link.stats.resyncs == 1, link.stats
    print(f"reset → stop {stops[0][0] - reset_s:.3f} s, → driving {again[0][0] - reset_s:.3f} s")
