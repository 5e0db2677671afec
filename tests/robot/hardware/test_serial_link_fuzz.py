"""Fuzzing the serial backend's receive path end to end: bytes on a real pty, read by the real
reader thread (splitter, ``decode``, ordering, restarts, counters).

Whatever arrives — noise, torn and oversized lines, valid frames with any sequence number, range
count and flags — every line is counted exactly once (used or dropped by kind), the reader
thread survives it, and the snapshot holds only readings within the protocol's ranges. ~5 s.
"""

from __future__ import annotations

import math
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robot.config import SerialConfig
from robot.hardware import frames
from robot.hardware.frames import LineSplitter
from robot.hardware.serial_link import SerialHardware
from tests.robot.hardware.test_frames_fuzz import noise
from tests.robot.mcu import Microcontroller, wait_for

CHANNELS = ("left_distance_m", "front_distance_m", "right_distance_m")
CONFIG = SerialConfig(
    url="/dev/null-unused",
    channels=(("left_distance_m", 0), ("front_distance_m", 1), ("right_distance_m", 2)),
    ranges_per_frame=3,
)
#: Counters of lines that reached ``decode``: each line the splitter yields lands in one.
LINE_COUNTERS = ("frames", "corrupt", "partial", "unknown", "wrong_count", "out_of_order")

sensor_frames = st.builds(
    lambda seq, mm, flags: frames.encode_sensor(
        seq,
        seq * 50,
        [math.nan if v is None else v / 1000 for v in mm],
        bumper=flags[0],
        mcu_failsafe=flags[1],
        booting=flags[2],
    ),
    seq=st.integers(0, 65535),
    mm=st.lists(st.one_of(st.none(), st.integers(0, 65535)), min_size=2, max_size=4),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
)
other_frames = st.builds(frames.encode_heartbeat, st.integers(0, 65535)) | st.builds(
    frames.encode_drive, st.integers(0, 65535), st.just(0.5), st.just(-0.5)
)
pieces = st.lists(sensor_frames | other_frames | noise, min_size=1, max_size=8)


def _handled(link: SerialHardware) -> int:
    counters = link.link_counters()
    return sum(counters[name] for name in LINE_COUNTERS)


def test_any_bytes_on_the_line_are_counted_and_never_stop_the_reader() -> None:
    mcu = Microcontroller()
    link = SerialHardware(CONFIG, CHANNELS, clock=time.monotonic, open_port=mcu.open_port)
    model = LineSplitter()  # the same cut as the reader's (chunking does not change it)
    expected = {"lines": 0}
    try:
        assert link.wait_connected(3.0)

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(pieces=pieces)
        def one_burst(pieces: list[bytes]) -> None:
            data = b"".join(pieces) + b"\n"  # ends every line, so the models agree
            expected["lines"] += len(list(model.feed(data)))
            mcu.send(data)
            deadline = time.monotonic() + 5.0
            while (_handled(link), link.stats.oversized) != (expected["lines"], model.oversized):
                assert time.monotonic() < deadline, (expected, model.oversized, link.stats, data)
                time.sleep(0.002)
            snapshot = link.snapshot()
            assert all(math.isnan(v) or 0.0 <= v <= 65.535 for v in snapshot.values)
            assert all(isinstance(fault, str) for fault in snapshot.faults)

        one_burst()
        # Still reading: after link_timeout_s of silence the next valid frame is taken, whatever
        # its number (a restart, for all the link knows).
        time.sleep(CONFIG.link_timeout_s + 0.05)
        mcu.send(frames.encode_sensor(0, 0, [0.25, 0.5, 0.75]))
        wait_for(lambda: link.snapshot().values == (0.25, 0.5, 0.75))
    finally:
        link.close()
        mcu.close()
