"""The sd_notify protocol, spoken directly: readiness, watchdog pings and status for systemd.

systemd passes ``NOTIFY_SOCKET`` (a filesystem path, or an abstract socket name starting with
``@``) to a ``Type=notify`` service; each message is one datagram of newline-separated
``KEY=VALUE`` lines (``READY=1``, ``WATCHDOG=1``, ``STATUS=…``, ``STOPPING=1``, ``RELOADING=1``).
``WATCHDOG_USEC`` is the unit's ``WatchdogSec`` in microseconds and ``WATCHDOG_PID``, when set,
names the process it is meant for. Without ``NOTIFY_SOCKET`` every call is a no-op.

Nothing here raises into the control loop: the socket is non-blocking, and a failed send is
logged once (then at debug level), counted in ``Notifier.send_errors`` and otherwise ignored.
Only the standard library is used.

Integration, for the loop (``robot/control/loop.py``)::

    notifier = Notifier.from_environment()
    gate = WatchdogGate(notifier, clock=time.monotonic)
    # first valid decision:           notifier.ready()
    # each tick that met its deadline
    #   with fresh sensors and no error: gate.healthy_tick()
    # about once a second:            notifier.status(f"{rate_hz:.1f} Hz, {overruns} overruns, …")
    # SIGHUP reload:                  notifier.reloading(); …; notifier.ready()
    # on the way out:                 notifier.stopping()
"""

from __future__ import annotations

import errno
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Mapping

_log = logging.getLogger(__name__)

#: sd_notify field names are upper-case ASCII letters, digits and underscores.
_FIELD_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def parse_notify_address(value: str) -> str:
    """Return the ``AF_UNIX`` address for a ``NOTIFY_SOCKET`` value (``@name`` → abstract)."""
    if value.startswith("@") and len(value) > 1:
        # Abstract namespace: Linux addresses it with a leading NUL byte instead of the "@".
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    raise ValueError(
        f"NOTIFY_SOCKET={value!r}: expected an absolute socket path or an abstract name "
        "starting with '@' (vsock: addresses are not supported); sd_notify is disabled"
    )


def parse_watchdog_usec(
    environ: Mapping[str, str], pid: int | None = None
) -> tuple[int | None, str | None]:
    """Return (``WATCHDOG_USEC`` in µs or None, a warning or None) for the process ``pid``."""
    raw = environ.get("WATCHDOG_USEC")
    if raw is None or raw == "":
        return None, None
    owner = environ.get("WATCHDOG_PID")
    if owner:
        me = os.getpid() if pid is None else pid
        try:
            owner_pid = int(owner)
        except ValueError:
            return None, f"WATCHDOG_PID={owner!r} is not a process id; watchdog pings disabled"
        if owner_pid != me:
            # The watchdog belongs to another process (e.g. a wrapper that exec'd us later).
            return None, None
    try:
        usec = int(raw)
    except ValueError:
        return None, (
            f"WATCHDOG_USEC={raw!r} is not an integer number of microseconds; "
            "watchdog pings disabled (set WatchdogSec= in the unit)"
        )
    if usec <= 0:
        return None, None
    return usec, None


class Notifier:
    """Sends sd_notify messages to systemd; a no-op when the service is not under systemd."""

    def __init__(
        self,
        address: str | None,
        watchdog_usec: int | None = None,
        *,
        logger: logging.Logger | None = None,
    ) -> None:
        """Talk to the ``AF_UNIX`` datagram ``address`` (None: disabled); ping every usec/2."""
        self._address = address
        self._watchdog_usec = watchdog_usec if watchdog_usec and watchdog_usec > 0 else None
        self._log = logger or _log
        self._socket: socket.socket | None = None
        self._warned = False
        #: Messages that could not be delivered (socket gone, queue full, …).
        self.send_errors = 0
        #: Messages delivered to the socket.
        self.sent = 0

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] = os.environ,
        *,
        pid: int | None = None,
        logger: logging.Logger | None = None,
    ) -> Notifier:
        """Build from ``NOTIFY_SOCKET``/``WATCHDOG_USEC``/``WATCHDOG_PID`` (``pid``: ours)."""
        log = logger or _log
        raw = environ.get("NOTIFY_SOCKET", "")
        address: str | None = None
        if raw:
            try:
                address = parse_notify_address(raw)
            except ValueError as exc:
                log.warning("%s", exc)
        usec, warning = parse_watchdog_usec(environ, pid)
        if warning:
            log.warning("%s", warning)
        return cls(address, usec if address else None, logger=logger)

    @property
    def enabled(self) -> bool:
        """Whether there is a socket to talk to (the process runs under systemd)."""
        return self._address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """Seconds between watchdog pings (half of ``WATCHDOG_USEC``), None without a watchdog."""
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2 / 1e6

    def notify(self, **fields: str | int) -> bool:
        """Send one datagram of ``KEY=VALUE`` lines; True if systemd's socket accepted it."""
        for name in fields:
            if not _FIELD_NAME.match(name):
                raise ValueError(f"sd_notify field {name!r}: expected upper-case KEY such as READY")
        if self._address is None:
            return False
        # One line per field: a newline inside a value would start a bogus field.
        message = "".join(
            f"{name}={str(value).replace(chr(10), ' ')}\n" for name, value in fields.items()
        )
        try:
            if self._socket is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # Never block the control loop on a slow or full receiver.
                sock.setblocking(False)
                self._socket = sock
            self._socket.sendto(message.encode(), self._address)
        except OSError as exc:
            self._send_failed(exc, fields)
            return False
        self.sent += 1
        return True

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd the service is up (``READY=1``), optionally with a status line."""
        if status is None:
            return self.notify(READY=1)
        return self.notify(READY=1, STATUS=status)

    def reloading(self, monotonic_usec: int | None = None) -> bool:
        """Tell systemd a reload began (``RELOADING=1``); send ``ready()`` when it is done."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify(RELOADING=1, MONOTONIC_USEC=monotonic_usec or usec)

    def watchdog(self) -> bool:
        """Ping the watchdog (``WATCHDOG=1``); call only when the loop is healthy."""
        return self.notify(WATCHDOG=1)

    def status(self, text: str) -> bool:
        """Set the one-line status ``systemctl status`` shows (``STATUS=``)."""
        return self.notify(STATUS=text)

    def stopping(self) -> bool:
        """Tell systemd the service is shutting down (``STOPPING=1``)."""
        return self.notify(STOPPING=1)

    def close(self) -> None:
        """Close the socket; later calls reopen it. Safe to call twice."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> Notifier:
        """Use as a context manager that closes the socket."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the socket."""
        self.close()

    def _send_failed(self, exc: OSError, fields: Mapping[str, str | int]) -> None:
        self.send_errors += 1
        what = ",".join(fields)
        reason = "receiver queue full" if exc.errno in (errno.EAGAIN, errno.ENOBUFS) else exc
        if not self._warned:
            self._warned = True
            self._log.warning(
                "sd_notify %s to %r failed (%s); the service keeps running, further failures "
                "are counted and logged at debug level",
                what,
                self._address,
                reason,
            )
        else:
            self._log.debug("sd_notify %s failed (%s); %d failures", what, reason, self.send_errors)


class WatchdogGate:
    """Turns healthy ticks into ``WATCHDOG=1`` pings, at most one per watchdog interval.

    The loop calls ``healthy_tick()`` only from a tick that met its deadline with valid data, so a
    stalled or failing loop stops the pings and systemd restarts the service; there is no timer
    thread that could keep pinging for a dead loop.
    """

    def __init__(
        self,
        notifier: Notifier,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float | None = None,
    ) -> None:
        """Ping through ``notifier`` every ``interval_s`` seconds of ``clock`` (default: half
        of ``WATCHDOG_USEC``)."""
        if interval_s is not None and interval_s <= 0:
            raise ValueError(f"interval_s={interval_s!r}: expected a positive number of seconds")
        self._notifier = notifier
        self._clock = clock
        self.interval_s = interval_s if interval_s is not None else notifier.watchdog_interval_s
        self._last_ping_s: float | None = None
        #: Pings sent so far.
        self.pings = 0

    def healthy_tick(self) -> bool:
        """Record a healthy tick; send ``WATCHDOG=1`` if an interval has passed. True if sent."""
        if self.interval_s is None:
            return False
        now_s = self._clock()
        if self._last_ping_s is not None and now_s - self._last_ping_s < self.interval_s:
            return False
        # Remember the attempt even if the send failed: retrying every tick would flood the log.
        self._last_ping_s = now_s
        sent = self._notifier.watchdog()
        self.pings += int(sent)
        return sent
