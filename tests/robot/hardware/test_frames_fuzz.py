"""Fuzzing the serial line protocol's parser: ``frames.decode`` and ``frames.LineSplitter``.

Whatever arrives on the line — noise, torn frames, frames with a valid CRC around nonsense — the
parser may only answer with a frame or a ``FrameError`` (which the link counts and drops), and
the splitter's buffer stays within the line cap. Pure functions: thousands of examples, ~5 s.
"""

from __future__ import annotations

import itertools
import math
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robot.errors import FrameError
from robot.hardware import frames
from robot.hardware.frames import MAX_LINE_BYTES, LineSplitter, crc8, decode

FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Bytes that matter to the grammar, plus a few that must never matter.
GRAMMAR = b"$*,\r\n0123456789ABCDEFabcdefSDH-+ _.x\x00\x7f\xff\xe2"
grammar_bytes = st.lists(st.sampled_from(list(GRAMMAR)), max_size=110).map(bytes)
noise = st.binary(max_size=130) | grammar_bytes
HEX_PAIR = re.compile(rb"[0-9A-Fa-f]{2}")


def _with_crc(body: bytes, digits: bytes | None = None) -> bytes:
    """``body`` framed as ``$body*CC\\n`` with its true CRC (or ``digits`` in its place)."""
    return b"$" + body + b"*" + (digits or f"{crc8(body):02X}".encode()) + b"\n"


def _check(frame: frames.Frame) -> None:
    """What a decoded frame may hold: numbers within the protocol's ranges, nothing else."""
    assert 0 <= frame.seq < frames.SEQ_MODULUS
    if isinstance(frame, frames.SensorFrame):
        assert 0 <= frame.mcu_time_ms < 1 << 32
        assert all(math.isnan(r) or 0.0 <= r <= frames.MAX_RANGE_MM / 1000 for r in frame.ranges_m)
    elif isinstance(frame, frames.DriveFrame):
        assert -1.0 <= frame.left <= 1.0 and -1.0 <= frame.right <= 1.0


def _decode(line: bytes) -> frames.Frame | None:
    """The frame, or None for a FrameError of a kind the link counts; anything else escapes."""
    try:
        frame = decode(line)
    except FrameError as exc:
        assert exc.kind in ("corrupt", "partial", "oversized", "unknown"), exc.kind
        return None
    _check(frame)
    return frame


@FUZZ
@given(line=noise)
def test_any_bytes_decode_to_a_frame_or_a_frame_error(line: bytes) -> None:
    _decode(line)


@FUZZ
@given(body=grammar_bytes)
def test_a_valid_crc_around_nonsense_is_still_only_a_frame_or_a_frame_error(body: bytes) -> None:
    _decode(_with_crc(body))


#: Numbers as a sender might garble them: signs, spaces, leading zeros, out of range, not decimal.
ODD_FIELDS = [b"", b" 1", *b"0 7 -1 +1 _1 01 1_0 00 03 0x 65536 99999999999 1.5 FF -0".split()]


@FUZZ
@given(
    kind=st.sampled_from([b"S", b"D", b"H"]),
    fields=st.lists(st.sampled_from(ODD_FIELDS), max_size=8),
)
def test_frames_of_the_right_kind_with_odd_fields(kind: bytes, fields: list[bytes]) -> None:
    _decode(_with_crc(b",".join([kind, *fields])))


#: Ways to write a checksum below 0x10 that ``int(text, 16)`` would read, and the right one.
LAX_HEX = ("{:02X}", "{:02x}", " {:X}", "+{:X}", "{:X} ", "\t{:X}", "0{:X}")
#: Heartbeats whose checksum is below 0x10 (one in sixteen), so the lax forms are one digit.
LOW_CRC_SEQS = [n for n in range(4000) if crc8(b"H,%d" % n) < 0x10]


@FUZZ
@given(
    seq=st.sampled_from(LOW_CRC_SEQS),
    style=st.sampled_from(LAX_HEX),
    digits=st.none() | st.binary(min_size=2, max_size=2),
)
def test_only_two_hex_digits_pass_as_a_checksum(seq: int, style: str, digits: bytes | None) -> None:
    body = b"H,%d" % seq
    digits = digits or style.format(crc8(body)).encode()
    frame = _decode(_with_crc(body, digits))
    if frame is not None:  # " 7", "+7" or "7 " must not pass for 07
        assert HEX_PAIR.fullmatch(digits) and int(digits, 16) == crc8(body), digits


@FUZZ
@given(flags=st.binary(min_size=1, max_size=3))
def test_only_two_hex_digits_pass_as_sensor_flags(flags: bytes) -> None:
    frame = _decode(_with_crc(b"S,1,2,300,,400," + flags))
    if frame is not None:
        assert HEX_PAIR.fullmatch(flags), flags


def _model(stream: bytes, max_bytes: int) -> tuple[list[bytes], int]:
    """What the splitter must yield: every newline-ended line that fits, and how many did not
    (a trailing run without newline counts once it is longer than the cap)."""
    *complete, tail = stream.split(b"\n")
    lines = [line + b"\n" for line in complete]
    fits = [line for line in lines if len(line) <= max_bytes]
    return fits, len(lines) - len(fits) + int(len(tail) > max_bytes)


@FUZZ
@given(
    stream=st.lists(
        st.sampled_from([b"\n", b"$H,1*4A", b"x" * 40, b"y" * 95, b"z" * 96, b"\r\n", b"$"]),
        max_size=30,
    ).map(b"".join)
    | noise,
    cuts=st.lists(st.integers(0, 400), max_size=12),
)
def test_the_splitter_yields_exactly_the_lines_that_fit_and_stays_bounded(
    stream: bytes, cuts: list[int]
) -> None:
    splitter = LineSplitter()
    out: list[bytes] = []
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        out.extend(splitter.feed(stream[start:end]))
        assert len(splitter._buffer) <= MAX_LINE_BYTES  # garbage cannot grow it
    expected, oversized = _model(stream, MAX_LINE_BYTES)
    assert out == expected
    assert splitter.oversized == oversized
    for line in out:
        _decode(line)
