"""Fault injection inside the running control loop over the serial link (real pyserial on a pty,
the emulated microcontroller): garbage on the line, a policy that raises, a stalled loop, and the
port vanishing and coming back. Pi-only (the fixture bundle's Q-table); real time, ~10 s.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from robot.config import LoopConfig, SerialConfig, SimConfig
from robot.control.decider import GreedyDecider
from robot.control.loop import ControlLoop
from robot.hardware.base import Snapshot
from robot.hardware.serial_link import SerialHardware
from robot.hardware.sim.backend import build_world
from robot.hardware.sim.mcu_emulator import McuEmulator
from robot.inference.policy import Decision, Policy, load_policy
from shared.bundle import read_bundle
from shared.spec import MotorCommand

BUNDLE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "obstacle_bundle"
CHANNELS = (("left_distance_m", 0), ("front_distance_m", 1), ("right_distance_m", 2))
RATE_HZ = 20.0
TICK_S = 1.0 / RATE_HZ
#: Host slack on top of one tick (s): a shared 2-core machine schedules threads late.
SLACK_S = 0.1
GARBAGE = b"\x00\xff$S,garbage*00\nnoise\n$D,1,0.5*ZZ\n" * 3


class RecordingSerial(SerialHardware):
    """The real serial backend, recording what the loop asked of it (monotonic s)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.calls: list[tuple[float, str, object]] = []

    def snapshot(self) -> Snapshot:
        """The backend's snapshot, recorded with its faults."""
        snap = super().snapshot()
        self.calls.append((time.monotonic(), "snapshot", snap.faults))
        return snap

    def drive(self, command: MotorCommand) -> None:
        """Record, then drive."""
        self.calls.append((time.monotonic(), "drive", (command.left, command.right)))
        super().drive(command)

    def stop(self) -> None:
        """Record, then stop."""
        self.calls.append((time.monotonic(), "stop", None))
        super().stop()


class FaultyPolicy:
    """The bundle's policy; raises while ``raising`` is set, sleeps ``stall_s`` once."""

    def __init__(self, inner: Policy) -> None:
        self.inner = inner
        self.name = inner.name
        self.raising = threading.Event()
        self.stall_s = 0.0

    def decide(self, raw_observation: np.ndarray) -> Decision:
        """Raise, stall once, or decide as the bundle does."""
        if self.raising.is_set():
            raise RuntimeError("injected policy fault")
        if self.stall_s:
            stall_s, self.stall_s = self.stall_s, 0.0
            time.sleep(stall_s)
        return self.inner.decide(raw_observation)

    def describe(self) -> str:
        """The wrapped policy's description."""
        return f"faulty {self.inner.describe()}"


def _repoint(link: Path, target: str) -> None:
    tmp = link.with_suffix(".new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)  # atomic: the backend reopens the same url, now the new pty


def _window(calls: list, start_s: float, end_s: float) -> list:
    return [c for c in calls if start_s <= c[0] < end_s]


@pytest.mark.slow
def test_faults_in_the_running_loop_over_serial(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = read_bundle(BUNDLE)
    emulator = McuEmulator(build_world(SimConfig(gpio=None, seed=4)))  # type: ignore[arg-type]
    port = tmp_path / "ttyMCU"
    _repoint(port, emulator.path or "")
    config = SerialConfig(url=str(port), channels=CHANNELS, ranges_per_frame=3, reconnect_max_s=0.2)
    link = RecordingSerial(config, bundle.spec.observation.names, clock=time.monotonic)
    assert link.wait_connected(2.0)
    policy = FaultyPolicy(load_policy(bundle, "qtable"))
    decider = GreedyDecider.for_spec(policy, bundle.spec)  # type: ignore[arg-type]
    loop = ControlLoop(link, decider, bundle.spec, LoopConfig(rate_hz=RATE_HZ))
    summary: dict = {}
    runner = threading.Thread(target=lambda: summary.update(loop.run(max_ticks=220)))
    t0 = time.monotonic()
    try:
        with caplog.at_level(logging.INFO):
            runner.start()
            time.sleep(1.0)
            # 1. Garbage on the line: counted and dropped; the motors keep going.
            corrupt_before, stops_before = link.stats.corrupt, emulator.failsafe_stops
            garbage_s = time.monotonic()
            emulator.send_raw(GARBAGE)
            time.sleep(1.0)
            corrupt_after = link.stats.corrupt
            stops_after_garbage = emulator.failsafe_stops
            # 2. The policy raises for 3 ticks.
            raise_s = time.monotonic()
            policy.raising.set()
            time.sleep(3 * TICK_S)
            policy.raising.clear()
            raise_end_s = time.monotonic()
            time.sleep(1.0)
            # 3. The loop stalls 0.4 s (longer than the MCU's 0.25 s heartbeat timeout).
            stall_s = time.monotonic()
            policy.stall_s = 0.4
            time.sleep(1.5)
            failsafe_stops_after_stall = emulator.failsafe_stops
            # 4. The port vanishes, and comes back a second later (a new pty, same url).
            unplug_s = time.monotonic()
            emulator.unplug()
            time.sleep(1.0)
            emulator.plug()
            _repoint(port, emulator.path or "")
            plug_s = time.monotonic()
            runner.join(timeout=30.0)
            assert not runner.is_alive(), "the loop did not finish"
    finally:
        if runner.is_alive():
            loop.request_stop("test over")
        link.close()
        emulator.close()
    calls = link.calls
    log = caplog.text
    assert summary["ticks"] == 220, summary

    # 1. Garbage: frames dropped and counted, no stop, the MCU's watchdog untouched.
    assert corrupt_after - corrupt_before >= 3, (corrupt_before, corrupt_after)
    around = _window(calls, garbage_s, garbage_s + 1.0)
    assert [c for c in around if c[1] == "stop"] == [], "garbage on the line stopped the motors"
    assert all(not c[2] for c in around if c[1] == "snapshot"), "garbage raised a fault"
    assert stops_after_garbage == stops_before, "garbage starved the MCU's watchdog"

    # 2. Policy raises: the tick that raised stopped the motors (a $D stop reached the MCU),
    # the exception is logged, and the loop drives again afterwards.
    assert "tick" in log and "raised; motors stopped" in log and "injected policy fault" in log
    stops = [c for c in _window(calls, raise_s, raise_end_s + TICK_S) if c[1] == "stop"]
    assert stops and stops[0][0] - raise_s <= TICK_S + SLACK_S, (stops[:1], raise_s)
    assert any(t >= raise_s and (left, right) == (0.0, 0.0) for t, left, right in emulator.applied)
    assert any(c[1] == "drive" for c in _window(calls, raise_end_s + TICK_S, stall_s))

    # 3. Stall: the MCU's heartbeat stop fired by itself; its fail-safe flag is a fault for the
    # loop, which stops, sends $D (clearing it) and drives again.
    assert failsafe_stops_after_stall >= 1, "the MCU's watchdog did not stop a stalled loop"
    after_stall = _window(calls, stall_s + 0.4, unplug_s)
    assert any(c[1] == "drive" and c[2] != (0.0, 0.0) for c in after_stall), "no recovery"

    # 4. Port vanishes: the first tick that sees the link down stops (no drive in between),
    # within one tick of the unplug, logged; after the port returns the link reopens and the
    # loop drives the emulator again.
    down = [c for c in _window(calls, unplug_s, plug_s) if c[1] == "snapshot" and c[2]]
    assert down, "the vanished port raised no fault"
    first_down_s = down[0][0]
    assert first_down_s - unplug_s <= TICK_S + SLACK_S, first_down_s - unplug_s
    after = _window(calls, first_down_s, plug_s)
    assert after[1][1] == "stop", after[:3]
    assert [c for c in after if c[1] == "drive"] == [], "drove while the port was gone"
    assert "serial link lost" in log and "motors stopped" in log
    assert link.stats.opens >= 2, link.stats
    assert any(t > plug_s and (left, right) != (0.0, 0.0) for t, left, right in emulator.applied)
    print(
        f"garbage: {corrupt_after - corrupt_before} dropped; policy fault stop after "
        f"{stops[0][0] - raise_s:.3f} s; MCU heartbeat stops {failsafe_stops_after_stall}; "
        f"port vanish seen after {first_down_s - unplug_s:.3f} s; opens {link.stats.opens}; "
        f"t {time.monotonic() - t0:.1f} s; summary stops {summary.get('stops')}"
    )
