"""The serial backend with real pyserial on a pty; the test plays the microcontroller."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator

import pytest

from robot.config import LoopConfig, SerialConfig
from robot.control.clock import MonotonicClock
from robot.control.decider import GreedyDecider
from robot.control.loop import ControlLoop
from robot.hardware import frames
from robot.hardware.serial_link import SerialHardware
from robot.inference.policy import load_policy
from shared.bundle import Bundle
from shared.spec import MotorCommand
from tests.robot.mcu import Microcontroller, wait_for

CHANNELS = ("left_distance_m", "front_distance_m", "right_distance_m")


CONFIG = SerialConfig(
    url="/dev/null-unused",
    channels=(("front_distance_m", 0), ("left_distance_m", 1), ("right_distance_m", 2)),
    ranges_per_frame=3,
    link_timeout_s=0.3,
    reconnect_min_s=0.02,
    reconnect_max_s=0.1,
)


@pytest.fixture
def mcu() -> Iterator[Microcontroller]:
    far_end = Microcontroller()
    yield far_end
    far_end.close()


@pytest.fixture
def link(mcu: Microcontroller) -> Iterator[SerialHardware]:
    hardware = SerialHardware(CONFIG, CHANNELS, clock=time.monotonic, open_port=mcu.open_port)
    assert hardware.wait_connected(3.0)
    yield hardware
    hardware.close()


def test_first_frame_after_opening_is_a_stop(link: SerialHardware, mcu: Microcontroller) -> None:
    wait_for(lambda: len(mcu.received) >= 1)
    assert mcu.received[0] == frames.DriveFrame(0, 0.0, 0.0)


def test_sensor_frames_fill_the_channels_in_spec_order(
    link: SerialHardware, mcu: Microcontroller
) -> None:
    assert link.snapshot().faults  # no frame yet: the link is silent
    mcu.send_ranges((0.4, 1.2, 1.9), bumper=True)
    wait_for(lambda: link.stats.frames == 1)
    snapshot = link.snapshot()
    assert snapshot.values == (1.2, 0.4, 1.9)  # front is position 0 in the frame
    assert snapshot.bumper is True
    assert snapshot.faults == ()
    assert snapshot.age_s(time.monotonic()) < 0.5


def test_a_sensor_without_echo_keeps_its_old_reading_and_ages(
    link: SerialHardware, mcu: Microcontroller
) -> None:
    mcu.send_ranges((0.4, 1.2, 1.9))
    wait_for(lambda: link.stats.frames == 1)
    first = link.snapshot()
    time.sleep(0.05)
    mcu.send_ranges((0.5, math.nan, 1.8))
    wait_for(lambda: link.stats.frames == 2)
    second = link.snapshot()
    assert second.values == (1.2, 0.5, 1.8)
    assert second.read_at_s[0] == first.read_at_s[0]  # left: the old echo, getting older
    assert second.read_at_s[1] > first.read_at_s[1]


def test_drive_then_heartbeats_then_stop(link: SerialHardware, mcu: Microcontroller) -> None:
    link.drive(MotorCommand(0.8, 0.4))
    link.drive(MotorCommand(0.8, 0.4))
    link.drive(MotorCommand(0.8, 0.4))
    link.drive(MotorCommand(-0.6, 0.6))
    link.stop()
    wait_for(lambda: len(mcu.received) >= 6)
    kinds = [type(f).__name__ for f in mcu.received]
    assert kinds == [
        "DriveFrame",
        "DriveFrame",
        "HeartbeatFrame",
        "HeartbeatFrame",
        "DriveFrame",
        "DriveFrame",
    ]
    assert mcu.received[1] == frames.DriveFrame(1, 0.8, 0.4)
    assert mcu.received[4] == frames.DriveFrame(4, -0.6, 0.6)
    assert mcu.received[5] == frames.DriveFrame(5, 0.0, 0.0)


def test_bad_frames_are_counted_and_dropped_never_fatal(
    link: SerialHardware, mcu: Microcontroller
) -> None:
    good = frames.encode_sensor(10, 500, [1.0, 1.0, 1.0])
    corrupt = bytearray(frames.encode_sensor(11, 550, [0.2, 0.2, 0.2]))
    corrupt[5] ^= 0x01
    mcu.send(good)
    mcu.send(bytes(corrupt))  # corrupt
    mcu.send(b"0,1000,00*7F\n")  # the tail of a line: partial
    mcu.send(b"$S," + b"9" * 300 + b"\n")  # oversized
    mcu.send(frames.encode_sensor(9, 450, [0.1, 0.1, 0.1]))  # older than 10: out of order
    mcu.send(frames.encode_sensor(12, 600, [0.3, 0.3]))  # two ranges, not three
    mcu.send(frames.encode_heartbeat(3))  # a kind the Pi does not expect
    mcu.send(frames.encode_sensor(14, 700, [1.5, 1.6, 1.7]))  # 13 was lost
    wait_for(lambda: link.stats.frames == 2)
    s = link.stats
    assert (s.corrupt, s.partial, s.oversized, s.out_of_order, s.wrong_count, s.unknown) == (
        1,
        1,
        1,
        1,
        1,
        1,
    )
    assert s.lost == 3  # 11, 12 and 13 never arrived as valid frames
    assert link.snapshot().values == (1.6, 1.5, 1.7)
    assert "dropped 6" in link.describe()[1]


def test_mcu_failsafe_is_a_fault(link: SerialHardware, mcu: Microcontroller) -> None:
    mcu.send_ranges((1.0, 1.0, 1.0), mcu_failsafe=True)
    wait_for(lambda: link.stats.frames == 1)
    assert link.snapshot().faults == (
        "the microcontroller holds the motors stopped (its fail-safe)",
    )


def test_a_vanished_port_is_reopened_with_back_off(
    link: SerialHardware, mcu: Microcontroller
) -> None:
    mcu.send_ranges((1.0, 1.0, 1.0))
    wait_for(lambda: link.stats.frames == 1)
    mcu.unplug()
    wait_for(lambda: link.snapshot().faults == ("serial link down (/dev/null-unused)",))
    link.stop()  # best effort while down: no exception
    with pytest.raises(ConnectionError, match="serial link down"):
        link.drive(MotorCommand(0.8, 0.8))
    wait_for(lambda: link.stats.open_failures >= 3)
    mcu.plug()
    wait_for(lambda: link.stats.opens == 2)
    wait_for(lambda: len(mcu.received) >= 1)
    assert mcu.received[-1].left == 0.0 and mcu.received[-1].right == 0.0  # type: ignore[union-attr]
    mcu.send_ranges((0.7, 0.8, 0.9))
    wait_for(lambda: link.stats.frames == 2)
    assert link.snapshot().faults == ()


def test_loop_drives_over_serial_and_holds_stopped_while_the_link_is_down(
    link: SerialHardware, mcu: Microcontroller, bundle: Bundle
) -> None:
    feeding = threading.Event()
    feeding.set()
    done = threading.Event()

    def feed() -> None:
        while not done.is_set():
            if feeding.is_set() and mcu.master is not None:
                with contextlib.suppress(OSError):  # unplugged between the check and the write
                    mcu.send_ranges((1.5, 1.5, 1.5))
            time.sleep(0.02)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    wait_for(lambda: link.stats.frames >= 1)
    loop = ControlLoop(
        link,
        GreedyDecider.for_spec(load_policy(bundle, "qtable"), bundle.spec),
        bundle.spec,
        LoopConfig(rate_hz=50.0, max_sensor_age_s=0.2, max_consecutive_overruns=1000),
        clock=MonotonicClock(),
    )

    def outage() -> None:
        feeding.clear()
        mcu.unplug()
        time.sleep(0.4)
        mcu.plug()
        feeding.set()

    threading.Timer(0.4, outage).start()
    summary = loop.run(max_ticks=75)  # 1.5 s
    done.set()
    feeder.join()
    assert summary["stops"]["fault"]["ticks"] >= 10
    driven = [f for f in mcu.received if isinstance(f, frames.DriveFrame) and f.left != 0.0]
    assert driven, "the loop never drove after the port came back"
    assert mcu.received[0] == frames.DriveFrame(0, 0.0, 0.0) or mcu.received[0].left == 0.0  # type: ignore[union-attr]
    # Stopped at exit: the last frame the microcontroller heard is a stop.
    wait_for(lambda: isinstance(mcu.received[-1], frames.DriveFrame))
    assert mcu.received[-1].left == 0.0 and mcu.received[-1].right == 0.0  # type: ignore[union-attr]


def test_loop_url_works_and_close_is_idempotent() -> None:
    config = SerialConfig(url="loop://", channels=CONFIG.channels, ranges_per_frame=3)
    hardware = SerialHardware(config, CHANNELS, clock=time.monotonic)
    assert hardware.wait_connected(2.0)
    hardware.drive(MotorCommand(0.5, 0.5))
    # loop:// echoes the Pi's own frames back; they are not sensor frames and are dropped.
    wait_for(lambda: hardware.stats.unknown >= 2)
    hardware.close()
    hardware.close()
