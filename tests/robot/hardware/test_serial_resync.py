"""A microcontroller that restarts while its port stays open (a board on a UART that resets):
its frames count from 0 again. Real pyserial on a pty; the test plays the microcontroller."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from robot.config import SerialConfig
from robot.hardware import frames
from robot.hardware.serial_link import SerialHardware, format_counters
from tests.robot.mcu import Microcontroller, wait_for

CHANNELS = ("left_distance_m", "front_distance_m", "right_distance_m")
LINK_TIMEOUT_S = 0.3
CONFIG = SerialConfig(
    url="/dev/null-unused",
    channels=(("left_distance_m", 0), ("front_distance_m", 1), ("right_distance_m", 2)),
    ranges_per_frame=3,
    link_timeout_s=LINK_TIMEOUT_S,
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


def _run_up_to(mcu: Microcontroller, link: SerialHardware, seq: int) -> None:
    """The board has been running a while: its count is at ``seq``."""
    mcu.seq = seq
    for _ in range(3):
        mcu.send_ranges((1.0, 1.0, 1.0))
    wait_for(lambda: link.stats.frames == 3)


def test_a_restart_announced_by_the_boot_flag_is_a_new_count_at_once(
    link: SerialHardware, mcu: Microcontroller
) -> None:
    _run_up_to(mcu, link, 5000)
    mcu.seq = 0  # reset: the count starts again, flagged as booting, motors held
    mcu.send_ranges((0.4, 0.5, 0.6), booting=True, mcu_failsafe=True)
    wait_for(lambda: link.stats.frames == 4)
    assert link.stats.resyncs == 1 and link.stats.out_of_order == 0
    assert link.snapshot().values == (0.4, 0.5, 0.6)
    # Still booting (the Pi's stop has not arrived): in sequence from the new base, no resync.
    mcu.send_ranges((0.4, 0.5, 0.6), booting=True, mcu_failsafe=True)
    mcu.send_ranges((0.7, 0.8, 0.9))
    wait_for(lambda: link.stats.frames == 6)
    assert link.stats.resyncs == 1 and link.stats.lost == 0
    assert link.snapshot().values == (0.7, 0.8, 0.9)


def test_a_frame_flagged_booting_is_a_fault_until_the_board_has_heard_a_stop(
    link: SerialHardware, mcu: Microcontroller
) -> None:
    _run_up_to(mcu, link, 70)
    mcu.seq = 0
    mcu.send_ranges((1.0, 1.0, 1.0), booting=True, mcu_failsafe=True)
    wait_for(lambda: link.stats.frames == 4)
    assert link.snapshot().faults == (
        "the microcontroller holds the motors stopped (its fail-safe)",
    )


def test_an_unannounced_restart_is_a_new_count_after_the_link_timeout(
    link: SerialHardware, mcu: Microcontroller
) -> None:
    # Firmware from before the boot flag: frames from 0 are out of order, so they are dropped
    # (the link is silent, a fault: the motors stop) until link_timeout_s has passed …
    _run_up_to(mcu, link, 5000)
    mcu.seq = 0
    reset_s = time.monotonic()
    while link.stats.resyncs == 0:
        assert time.monotonic() - reset_s < LINK_TIMEOUT_S + 0.5, "still locked out"
        assert link.snapshot().values == (1.0, 1.0, 1.0)  # nothing new: the readings age
        mcu.send_ranges((0.4, 0.5, 0.6))
        time.sleep(0.05)
    assert time.monotonic() - reset_s > LINK_TIMEOUT_S - 0.1
    assert link.stats.out_of_order >= 3  # about LINK_TIMEOUT_S / 0.05 s of them
    # … then the next valid frame's number is the new base, and the link is healthy again.
    frames_before = link.stats.frames
    mcu.send_ranges((0.7, 0.8, 0.9))
    wait_for(lambda: link.stats.frames == frames_before + 1)
    assert link.snapshot().faults == ()
    assert link.snapshot().values == (0.7, 0.8, 0.9)


def test_frames_out_of_order_in_normal_running_are_still_dropped(
    link: SerialHardware, mcu: Microcontroller
) -> None:
    _run_up_to(mcu, link, 100)  # 100, 101, 102
    for seq in (101, 50, 102, 65000):  # older, much older, the same, older across the wrap
        mcu.send(frames.encode_sensor(seq, 0, [0.2, 0.2, 0.2]))
    # A boot flag again while the last frame already had one is no new restart either.
    mcu.send(frames.encode_sensor(103, 0, [0.3, 0.3, 0.3], booting=True))
    mcu.send(frames.encode_sensor(0, 0, [0.2, 0.2, 0.2], booting=True))
    wait_for(lambda: link.stats.out_of_order == 5)
    assert link.stats.resyncs == 1  # only the first booting frame (103) was one
    assert link.snapshot().values == (0.3, 0.3, 0.3)


def test_the_counters_for_the_exit_summary(link: SerialHardware, mcu: Microcontroller) -> None:
    _run_up_to(mcu, link, 10)
    mcu.send(b"noise\n")
    mcu.seq = 0
    mcu.send_ranges((1.0, 1.0, 1.0), booting=True)
    wait_for(lambda: link.stats.frames == 4)
    counters = link.link_counters()
    assert counters == {
        "frames": 4,
        "corrupt": 0,
        "partial": 1,
        "oversized": 0,
        "unknown": 0,
        "out_of_order": 0,
        "lost": 0,
        "wrong_count": 0,
        "resyncs": 1,
        "open_failures": 0,
        "port_errors": 0,
        "reconnects": 0,
    }
    assert format_counters(counters) == (
        "frames 4, dropped 1 (corrupt 0, partial 1, oversized 0, unknown 0, wrong count 0, "
        "out of order 0), lost 0, resyncs 1, reconnects 0"
    )
    assert link.describe()[1] == "  " + format_counters(counters)
