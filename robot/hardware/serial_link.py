"""The ``serial`` backend: a microcontroller on UART/USB speaking sim2pi's line protocol.

A background reader thread owns the receive side: it cuts the byte stream into lines
(``frames.LineSplitter``), decodes them, keeps the newest valid reading of each channel with its
arrival time, and counts what it drops (corrupt, partial, oversized, out-of-order, wrong range
count, unexpected kinds). When the port vanishes (a read or write fails) it is closed and
reopened with exponential back-off; meanwhile snapshots carry a ``link down`` fault, so the loop
holds the motors stopped, and the microcontroller's own timeout stops them too (it hears no
``$D``/``$H``). The first frame after every (re)open is a ``$D`` stop.

Sensor frames must come in sequence (an older one is dropped as out of order), except when the
microcontroller restarted without the port vanishing (a board on a UART that resets) and counts
from 0 again: a frame announcing the restart (flag bit 2, after frames without it), or the first
valid frame after ``link_timeout_s`` without an accepted one, starts a new count (a *resync*).

The loop's thread writes: ``$D`` when the command changes, ``$H`` while it stays the same; both
feed the microcontroller's watchdog, so if this process stalls the motors stop within its timeout.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import serial

from robot.config import SerialConfig
from robot.errors import FrameError, LinkLostError
from robot.hardware import frames
from robot.hardware.base import STOP, Hardware, Snapshot
from shared.spec import MotorCommand

_log = logging.getLogger(__name__)
Clock = Callable[[], float]


@dataclass
class LinkStats:
    """Counters of the serial link since start."""

    frames: int = 0
    corrupt: int = 0
    partial: int = 0
    oversized: int = 0
    unknown: int = 0
    out_of_order: int = 0
    #: Frames the sequence numbers say never arrived.
    lost: int = 0
    wrong_count: int = 0
    #: New sequence counts accepted: the microcontroller restarted without the port vanishing.
    resyncs: int = 0
    opens: int = 0
    open_failures: int = 0
    port_errors: int = 0

    def counters(self) -> dict[str, int]:
        """The counters for the exit summary: ``opens`` after the first become ``reconnects``."""
        counters = asdict(self)
        counters["reconnects"] = max(0, counters.pop("opens") - 1)
        return counters


class SerialHardware(Hardware):
    """Sensor frames in, drive frames out, over one pyserial port (any URL: ``loop://`` too)."""

    name = "serial"

    def __init__(
        self,
        config: SerialConfig,
        channels: tuple[str, ...],
        *,
        clock: Clock,
        open_port: Callable[[], Any] | None = None,
    ) -> None:
        """Start the reader thread, which opens the port (and keeps reopening it).

        Args:
            config: the ``[hardware.serial]`` section.
            channels: the spec's observation channels, in order.
            clock: the loop's monotonic clock (seconds), used to date the frames.
            open_port: returns an open pyserial port; default ``serial.serial_for_url``.
        """
        mapping = dict(config.channels)
        missing = [name for name in channels if name not in mapping]
        if missing:
            raise LinkLostError(f"[hardware.serial.channels] has no position for {missing}")
        self.config = config
        self._clock = clock
        self._open_port = open_port or self._open_default
        self._positions = [mapping[name] for name in channels]
        self.stats = LinkStats()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._port: Any = None
        self._values = [math.nan] * len(channels)
        self._read_at = [-math.inf] * len(channels)
        self._bumper: bool | None = None
        self._mcu_failsafe = False
        self._last_frame_s = -math.inf
        self._last_seq: int | None = None
        self._last_booting = False
        self._tx_seq = 0
        self._last_command: MotorCommand | None = None
        self._closing = threading.Event()
        self._connected = threading.Event()
        self._splitter = frames.LineSplitter()
        self._thread = threading.Thread(target=self._reader, name="sim2pi-serial", daemon=True)
        self._thread.start()

    def _open_default(self) -> Any:
        return serial.serial_for_url(
            self.config.url,
            baudrate=self.config.baudrate,
            timeout=self.config.read_timeout_s,
            write_timeout=self.config.write_timeout_s,
        )

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait (real time) until the port is open; for ``check`` and tests."""
        return self._connected.wait(timeout_s)

    # --- the reader thread -------------------------------------------------------------------

    def _reader(self) -> None:
        backoff_s = self.config.reconnect_min_s
        while not self._closing.is_set():
            if self._port is None:
                try:
                    port = self._open_port()
                except (serial.SerialException, OSError, ValueError) as exc:
                    self.stats.open_failures += 1
                    if self.stats.open_failures == 1 or self.stats.open_failures % 50 == 0:
                        _log.warning(
                            "cannot open %s (%s); retrying in %.2f s",
                            self.config.url,
                            exc,
                            backoff_s,
                        )
                    self._closing.wait(backoff_s)
                    backoff_s = min(backoff_s * 2.0, self.config.reconnect_max_s)
                    continue
                backoff_s = self.config.reconnect_min_s
                with self._lock:
                    self._port = port
                    self._last_seq = None  # the microcontroller may have restarted
                self._splitter.reset()
                self.stats.opens += 1
                _log.info("serial link open: %s (open #%d)", self.config.url, self.stats.opens)
                self._send_stop()
                self._connected.set()
            port = self._port
            if port is None:
                continue
            try:
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # TypeError/AttributeError: pyserial's posix read after a concurrent close().
                self._drop_port(f"read failed: {exc!r}")
                continue
            if data:
                now = self._clock()
                before = self._splitter.oversized
                for line in self._splitter.feed(data):
                    self._handle(line, now)
                self.stats.oversized += self._splitter.oversized - before

    def _handle(self, line: bytes, now: float) -> None:
        try:
            frame = frames.decode(line)
        except FrameError as exc:
            setattr(self.stats, exc.kind, getattr(self.stats, exc.kind) + 1)
            _log.debug("dropped a frame: %s", exc)
            return
        if not isinstance(frame, frames.SensorFrame):
            self.stats.unknown += 1
            return
        if len(frame.ranges_m) != self.config.ranges_per_frame:
            self.stats.wrong_count += 1
            return
        with self._lock:
            restarted = self._restarted(frame, now)
            if restarted:
                self.stats.resyncs += 1
                _log.warning("serial: %s; counting from its sequence number now", restarted)
            elif self._last_seq is not None:
                if not frames.seq_is_newer(frame.seq, self._last_seq):
                    self.stats.out_of_order += 1
                    return
                self.stats.lost += (frame.seq - self._last_seq - 1) % frames.SEQ_MODULUS
            self._last_seq = frame.seq
            self._last_booting = frame.booting
            self.stats.frames += 1
            self._last_frame_s = now
            self._bumper = frame.bumper
            self._mcu_failsafe = frame.mcu_failsafe
            for i, position in enumerate(self._positions):
                value = frame.ranges_m[position]
                if not math.isnan(value):  # no echo: keep the old reading, let it age
                    self._values[i] = value
                    self._read_at[i] = now

    def _restarted(self, frame: frames.SensorFrame, now: float) -> str:
        """Why ``frame`` starts a new sequence count (the microcontroller restarted), or ""."""
        last = self._last_seq
        if last is None:
            return ""  # the first frame since the port opened: nothing to compare with
        if frame.booting and not self._last_booting:
            return f"the microcontroller restarted (boot flag at seq {frame.seq}, after {last})"
        silent_s = now - self._last_frame_s
        if silent_s > self.config.link_timeout_s and not frames.seq_is_newer(frame.seq, last):
            return (
                f"no frame in sequence for {silent_s:.2f} s (link_timeout_s "
                f"{self.config.link_timeout_s}), then seq {frame.seq} after {last}: the "
                "microcontroller restarted"
            )
        return ""

    def _drop_port(self, why: str) -> None:
        with self._lock:
            port, self._port = self._port, None
        self._connected.clear()
        self._last_command = None
        if port is None:
            return
        self.stats.port_errors += 1
        _log.warning("serial link lost (%s); motors held stopped while reopening", why)
        try:
            port.close()
        except (serial.SerialException, OSError) as exc:
            _log.debug("closing the lost port: %r", exc)

    # --- the loop's side ---------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The newest reading per channel; a ``faults`` entry while the link is down or silent."""
        now = self._clock()
        with self._lock:
            faults = []
            if self._port is None:
                faults.append(f"serial link down ({self.config.url})")
            elif now - self._last_frame_s > self.config.link_timeout_s:
                faults.append(f"no valid frame for over {self.config.link_timeout_s} s")
            if self._mcu_failsafe:
                faults.append("the microcontroller holds the motors stopped (its fail-safe)")
            return Snapshot(tuple(self._values), tuple(self._read_at), self._bumper, tuple(faults))

    def _write(self, line: bytes) -> None:
        port = self._port
        if port is None:
            raise LinkLostError(f"serial link down ({self.config.url}); cannot send {line!r}")
        try:
            port.write(line)
        except (serial.SerialException, OSError) as exc:
            # SerialTimeoutException is a SerialException: a write blocked past write_timeout_s.
            self._drop_port(f"write failed: {exc!r}")
            raise LinkLostError(f"serial write to {self.config.url} failed: {exc}") from exc

    def _next_seq(self) -> int:
        seq = self._tx_seq
        self._tx_seq = (seq + 1) % frames.SEQ_MODULUS
        return seq

    def drive(self, command: MotorCommand) -> None:
        """Send ``$D`` if the command changed, else ``$H``; raise LinkLostError if down."""
        with self._write_lock:
            if command == self._last_command:
                self._write(frames.encode_heartbeat(self._next_seq()))
            else:
                self._write(frames.encode_drive(self._next_seq(), command.left, command.right))
                self._last_command = command

    def _send_stop(self) -> None:
        with self._write_lock:
            try:
                self._write(frames.encode_drive(self._next_seq(), 0.0, 0.0))
                self._last_command = STOP
            except LinkLostError as exc:
                _log.debug("stop not sent: %s", exc)

    def stop(self) -> None:
        """Send a ``$D`` stop (best effort: with the link down the microcontroller stops itself)."""
        self._send_stop()

    def close(self) -> None:
        """Send a stop, end the reader thread and close the port; safe to call twice."""
        if self._closing.is_set():
            return
        self._send_stop()
        self._closing.set()
        self._thread.join(timeout=2.0)
        with self._lock:
            port, self._port = self._port, None
        if port is not None:
            port.close()

    def link_counters(self) -> dict[str, int]:
        """The link's counters since start (``LinkStats.counters``)."""
        return self.stats.counters()

    def describe(self) -> list[str]:
        """The port and the link counters."""
        return [
            f"serial: {self.config.url} at {self.config.baudrate} baud, "
            f"{self.config.ranges_per_frame} ranges per frame",
            f"  {format_counters(self.stats.counters())}",
        ]


def format_counters(counters: dict[str, int]) -> str:
    """The link's counters as one log line (``robot check``, the exit summary)."""
    c = counters
    dropped = sum(
        c[k] for k in ("corrupt", "partial", "oversized", "unknown", "wrong_count", "out_of_order")
    )
    return (
        f"frames {c['frames']}, dropped {dropped} (corrupt {c['corrupt']}, partial "
        f"{c['partial']}, oversized {c['oversized']}, unknown {c['unknown']}, wrong count "
        f"{c['wrong_count']}, out of order {c['out_of_order']}), lost {c['lost']}, resyncs "
        f"{c['resyncs']}, reconnects {c['reconnects']}"
    )
