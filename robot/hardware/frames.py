"""sim2pi's serial line protocol: framing, checksums and sequence numbers, apart from any port.

Every frame is one ASCII line ``$<kind>,<fields>*<crc>\\n`` of at most ``MAX_LINE_BYTES`` bytes
(``\\r`` before the ``\\n`` is allowed). ``<crc>`` is CRC-8 (polynomial 0x07, initial value 0,
no reflection: CRC-8/SMBUS) over the bytes between ``$`` and ``*``, as two upper-case hex digits.
Each side numbers its frames with its own 16-bit sequence counter that wraps at 65536.

Microcontroller → Pi::

    $S,<seq>,<t_ms>,<mm_1>,…,<mm_n>,<flags>*<crc>   sensor frame, one per measurement cycle

``t_ms`` is the microcontroller's millisecond clock (wraps at 2**32) when it measured; each
``mm_i`` a range in whole millimetres (0–65535), empty when that sensor gave no echo; ``flags``
two hex digits: bit 0 the bumper is pressed, bit 1 the microcontroller is holding the motors
stopped (its fail-safe: the Pi went quiet, or it has just restarted), bit 2 it has restarted and
not yet heard a ``$D`` stop (its sequence numbers start again at 0: the Pi takes them as a new
count), bits 3–7 reserved (0).

Pi → microcontroller::

    $D,<seq>,<left>,<right>*<crc>   drive: duty per side in thousandths, -1000..1000 (1000 = ahead)
    $H,<seq>*<crc>                  heartbeat: keep the current duties, the Pi is alive

The microcontroller stops both motors when no valid ``D`` or ``H`` frame has arrived for its
timeout (250 ms suggested) and keeps them stopped until the next ``D``; after a restart, until the
next ``D`` stop (docs/serial-protocol.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from robot.errors import FrameError

#: The longest line either side may send, ``\\n`` included; longer input is dropped.
MAX_LINE_BYTES = 96
SEQ_MODULUS = 1 << 16
MAX_DUTY_PERMILLE = 1000
MAX_RANGE_MM = 65535
FLAG_BUMPER = 0x01
FLAG_MCU_FAILSAFE = 0x02
#: The microcontroller restarted and has not heard a ``$D`` stop since: a new sequence count.
FLAG_BOOT = 0x04


def _crc8_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC8 = _crc8_table()


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS (poly 0x07, init 0) of ``data``."""
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


def seq_is_newer(seq: int, last: int) -> bool:
    """True if 16-bit sequence number ``seq`` comes after ``last`` (serial-number arithmetic)."""
    return 0 < (seq - last) % SEQ_MODULUS < SEQ_MODULUS // 2


@dataclass(frozen=True)
class SensorFrame:
    """A decoded ``$S`` frame: ranges in metres (NaN where a sensor gave no echo) and flags."""

    seq: int
    mcu_time_ms: int
    ranges_m: tuple[float, ...]
    bumper: bool
    mcu_failsafe: bool
    #: Flag bit 2: the microcontroller restarted (its sequence numbers count from 0 again).
    booting: bool = False


@dataclass(frozen=True)
class DriveFrame:
    """A decoded ``$D`` frame: duty per side in [-1, 1]."""

    seq: int
    left: float
    right: float


@dataclass(frozen=True)
class HeartbeatFrame:
    """A decoded ``$H`` frame."""

    seq: int


Frame = SensorFrame | DriveFrame | HeartbeatFrame


def _wrap(body: str) -> bytes:
    raw = body.encode("ascii")
    line = b"$" + raw + b"*" + f"{crc8(raw):02X}".encode("ascii") + b"\n"
    if len(line) > MAX_LINE_BYTES:
        raise FrameError(f"frame {line!r} is {len(line)} bytes, over the {MAX_LINE_BYTES}-byte cap")
    return line


def _check_seq(seq: int) -> int:
    if not 0 <= seq < SEQ_MODULUS:
        raise FrameError(f"sequence number: expected 0..{SEQ_MODULUS - 1}, found {seq}")
    return seq


def _permille(duty: float, side: str) -> int:
    if not (math.isfinite(duty) and -1.0 <= duty <= 1.0):
        raise FrameError(f"drive {side} duty: expected a number in [-1, 1], found {duty!r}")
    return round(duty * MAX_DUTY_PERMILLE)


def encode_drive(seq: int, left: float, right: float) -> bytes:
    """A ``$D`` line commanding duties ``left``/``right`` in [-1, 1]."""
    return _wrap(f"D,{_check_seq(seq)},{_permille(left, 'left')},{_permille(right, 'right')}")


def encode_heartbeat(seq: int) -> bytes:
    """A ``$H`` line."""
    return _wrap(f"H,{_check_seq(seq)}")


def encode_sensor(
    seq: int,
    mcu_time_ms: int,
    ranges_m: Sequence[float],
    *,
    bumper: bool = False,
    mcu_failsafe: bool = False,
    booting: bool = False,
) -> bytes:
    """A ``$S`` line as the microcontroller sends it (NaN range = no echo); for tests and tools."""
    fields = []
    for metres in ranges_m:
        if math.isnan(metres):
            fields.append("")
        else:
            fields.append(str(min(MAX_RANGE_MM, max(0, round(metres * 1000.0)))))
    flags = (
        (FLAG_BUMPER if bumper else 0)
        | (FLAG_MCU_FAILSAFE if mcu_failsafe else 0)
        | (FLAG_BOOT if booting else 0)
    )
    body = f"S,{_check_seq(seq)},{mcu_time_ms % (1 << 32)},{','.join(fields)},{flags:02X}"
    return _wrap(body)


_HEX_DIGITS = frozenset("0123456789ABCDEFabcdef")


def _hex_pair(text: str) -> int | None:
    """Two hex digits as a number, else None (``int(text, 16)`` would also take " 7" or "+7")."""
    return int(text, 16) if len(text) == 2 and set(text) <= _HEX_DIGITS else None


def _int(text: str, low: int, high: int, what: str, line: bytes) -> int:
    if not text or not (text.isdigit() or (text[0] == "-" and text[1:].isdigit())):
        raise FrameError(f"{what}: expected an integer, found {text!r} in {line!r}")
    value = int(text)
    if not low <= value <= high:
        raise FrameError(f"{what}: expected {low}..{high}, found {value} in {line!r}")
    return value


def decode(line: bytes) -> Frame:
    """Parse one line (with or without its line ending) into a frame, or raise FrameError."""
    body_end = line.rstrip(b"\r\n")
    if len(line) > MAX_LINE_BYTES:
        raise FrameError(
            f"oversized frame: {len(line)} bytes, the cap is {MAX_LINE_BYTES}", "oversized"
        )
    if not body_end.startswith(b"$") or len(body_end) < 4 or body_end[-3:-2] != b"*":
        raise FrameError(f"partial frame: expected '$…*CC', found {line!r}", "partial")
    raw = body_end[1:-3]
    try:
        text = raw.decode("ascii")
        checksum = _hex_pair(body_end[-2:].decode("ascii"))
    except UnicodeDecodeError:
        checksum = None
    if checksum is None:
        raise FrameError(f"corrupt frame: not ASCII or bad checksum digits in {line!r}")
    if crc8(raw) != checksum:
        raise FrameError(
            f"corrupt frame: CRC-8 {checksum:02X} in the frame, {crc8(raw):02X} computed, {line!r}"
        )
    fields = text.split(",")
    kind = fields[0]
    if kind == "S":
        if len(fields) < 5:
            raise FrameError(f"S frame: expected seq, t_ms, ranges and flags, found {line!r}")
        seq = _int(fields[1], 0, SEQ_MODULUS - 1, "S seq", line)
        mcu_time_ms = _int(fields[2], 0, (1 << 32) - 1, "S t_ms", line)
        ranges = tuple(
            math.nan if f == "" else _int(f, 0, MAX_RANGE_MM, "S range", line) / 1000.0
            for f in fields[3:-1]
        )
        flags = _hex_pair(fields[-1])
        if flags is None:
            raise FrameError(f"S flags: expected two hex digits, found {fields[-1]!r} in {line!r}")
        return SensorFrame(
            seq,
            mcu_time_ms,
            ranges,
            bumper=bool(flags & FLAG_BUMPER),
            mcu_failsafe=bool(flags & FLAG_MCU_FAILSAFE),
            booting=bool(flags & FLAG_BOOT),
        )
    if kind == "D" and len(fields) == 4:
        seq = _int(fields[1], 0, SEQ_MODULUS - 1, "D seq", line)
        left = _int(fields[2], -MAX_DUTY_PERMILLE, MAX_DUTY_PERMILLE, "D left", line)
        right = _int(fields[3], -MAX_DUTY_PERMILLE, MAX_DUTY_PERMILLE, "D right", line)
        return DriveFrame(seq, left / MAX_DUTY_PERMILLE, right / MAX_DUTY_PERMILLE)
    if kind == "H" and len(fields) == 2:
        return HeartbeatFrame(_int(fields[1], 0, SEQ_MODULUS - 1, "H seq", line))
    raise FrameError(f"unknown frame kind or field count: {line!r}; expected S, D or H", "unknown")


class LineSplitter:
    """Cuts a byte stream into lines no longer than ``max_bytes``; longer runs are dropped.

    Like pyserial's ``Packetizer``, but an oversized run is discarded up to its next newline and
    counted, so a stream of garbage cannot grow the buffer without bound.
    """

    def __init__(self, max_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.oversized = 0
        self._buffer = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Add bytes; yield each complete line (newline included) that fits the cap."""
        self._buffer.extend(data)
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self.max_bytes:
                    if not self._discarding:
                        self.oversized += 1
                    self._discarding = True
                    self._buffer.clear()
                return
            line = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            if self._discarding:
                self._discarding = False  # the tail of an oversized line
                continue
            if len(line) > self.max_bytes:
                self.oversized += 1
                continue
            yield line

    def reset(self) -> None:
        """Forget any partial line (after the port was reopened)."""
        self._buffer.clear()
        self._discarding = False
