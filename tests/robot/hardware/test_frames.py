"""The serial line protocol's framing, apart from any port."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robot.errors import FrameError
from robot.hardware import frames
from robot.hardware.frames import (
    MAX_LINE_BYTES,
    DriveFrame,
    HeartbeatFrame,
    LineSplitter,
    SensorFrame,
    crc8,
    decode,
    encode_drive,
    encode_heartbeat,
    encode_sensor,
    seq_is_newer,
)


def test_crc8_is_crc8_smbus() -> None:
    # The catalogued check value of CRC-8/SMBUS (poly 0x07, init 0) over "123456789".
    assert crc8(b"123456789") == 0xF4
    assert crc8(b"") == 0


def test_documented_example_frames() -> None:
    assert (
        encode_drive(7, 0.8, -0.6)
        == b"$D,7,800,-600*" + f"{crc8(b'D,7,800,-600'):02X}".encode() + b"\n"
    )
    line = encode_sensor(12, 345678, [0.5, math.nan, 2.0], bumper=True)
    assert line.startswith(b"$S,12,345678,500,,2000,01*")
    frame = decode(line)
    assert isinstance(frame, SensorFrame)
    assert frame.seq == 12 and frame.mcu_time_ms == 345678 and frame.bumper
    assert frame.ranges_m[0] == 0.5 and math.isnan(frame.ranges_m[1]) and frame.ranges_m[2] == 2.0
    assert decode(encode_heartbeat(65535)) == HeartbeatFrame(65535)


@given(
    seq=st.integers(0, 65535),
    left=st.integers(-1000, 1000),
    right=st.integers(-1000, 1000),
)
def test_drive_frames_round_trip(seq: int, left: int, right: int) -> None:
    frame = decode(encode_drive(seq, left / 1000, right / 1000))
    assert frame == DriveFrame(seq, left / 1000, right / 1000)


@given(
    seq=st.integers(0, 65535),
    t_ms=st.integers(0, 2**32 - 1),
    mm=st.lists(st.one_of(st.none(), st.integers(0, 65535)), min_size=1, max_size=8),
    bumper=st.booleans(),
    failsafe=st.booleans(),
)
def test_sensor_frames_round_trip(
    seq: int, t_ms: int, mm: list[int | None], bumper: bool, failsafe: bool
) -> None:
    ranges = [math.nan if v is None else v / 1000 for v in mm]
    line = encode_sensor(seq, t_ms, ranges, bumper=bumper, mcu_failsafe=failsafe)
    assert len(line) <= MAX_LINE_BYTES
    frame = decode(line)
    assert isinstance(frame, SensorFrame)
    assert (frame.seq, frame.mcu_time_ms, frame.bumper, frame.mcu_failsafe) == (
        seq,
        t_ms,
        bumper,
        failsafe,
    )
    for got, want in zip(frame.ranges_m, mm, strict=True):
        assert math.isnan(got) if want is None else got == want / 1000


@given(position=st.integers(1, 20), flip=st.integers(1, 255))
def test_any_flipped_byte_is_caught(position: int, flip: int) -> None:
    line = bytearray(encode_sensor(4, 100, [0.25, 1.0, 1.75]))
    position %= len(line) - 1  # not the newline
    line[position] ^= flip
    try:
        frame = decode(bytes(line))
    except FrameError:
        return
    # CRC-8 catches every single-byte error in the body; a flip can only survive if it hit
    # nothing that matters (it cannot: every byte is covered or is framing).
    pytest.fail(f"corrupted line {bytes(line)!r} decoded as {frame}")


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (b"$S,1,2,3,4,5,00*00\n", "corrupt"),
        (b"S,1,2,3,4,5,00*00\n", "partial"),
        (b"4,5,00*3A\n", "partial"),
        (b"$S,1,2\n", "partial"),
        (b"$" + b"H" * 200 + b"*00\n", "oversized"),
        (b"$Q,1*" + f"{crc8(b'Q,1'):02X}".encode() + b"\n", "unknown"),
        (b"$D,1,2*" + f"{crc8(b'D,1,2'):02X}".encode() + b"\n", "unknown"),
        (b"$D,1,2000,0*" + f"{crc8(b'D,1,2000,0'):02X}".encode() + b"\n", "corrupt"),
        (b"$S,1,2,x,00*" + f"{crc8(b'S,1,2,x,00'):02X}".encode() + b"\n", "corrupt"),
        (b"$S,1,2,5,0G*" + f"{crc8(b'S,1,2,5,0G'):02X}".encode() + b"\n", "corrupt"),
        (b"$\xff\xfe*00\n", "corrupt"),
    ],
)
def test_bad_frames_say_what_is_wrong(line: bytes, kind: str) -> None:
    with pytest.raises(FrameError) as info:
        decode(line)
    assert info.value.kind == kind
    assert repr(line)[2:12] in str(info.value) or kind == "oversized"


def test_encoders_refuse_out_of_range_values() -> None:
    with pytest.raises(FrameError, match=r"duty: expected a number in \[-1, 1\], found 1.5"):
        encode_drive(1, 1.5, 0.0)
    with pytest.raises(FrameError, match="sequence number"):
        encode_heartbeat(70000)
    with pytest.raises(FrameError, match="over the 96-byte cap"):
        encode_sensor(1, 1, [1.0] * 20)


def test_sequence_numbers_wrap() -> None:
    assert seq_is_newer(1, 0)
    assert seq_is_newer(0, 65535)
    assert seq_is_newer(100, 65000)
    assert not seq_is_newer(5, 5)
    assert not seq_is_newer(4, 5)
    assert not seq_is_newer(65535, 0)


def test_splitter_reassembles_lines_across_chunks() -> None:
    lines = [encode_sensor(i, i * 50, [0.1 * i, 1.0, 1.5]) for i in range(1, 6)]
    stream = b"".join(lines)
    splitter = LineSplitter()
    out = []
    for i in range(0, len(stream), 7):
        out.extend(splitter.feed(stream[i : i + 7]))
    assert out == lines


def test_splitter_drops_oversized_runs_and_recovers() -> None:
    splitter = LineSplitter()
    good = encode_heartbeat(3)
    garbage = b"x" * 500
    out = list(splitter.feed(garbage[:250])) + list(splitter.feed(garbage[250:] + b"\n" + good))
    assert out == [good]
    assert splitter.oversized == 1
    # A newline-free flood never grows the buffer beyond the cap.
    for _ in range(100):
        assert list(splitter.feed(b"y" * 90)) == []
    assert len(splitter._buffer) <= frames.MAX_LINE_BYTES
    assert splitter.oversized == 2
