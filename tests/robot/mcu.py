"""A pseudo-terminal whose far end the test plays: the microcontroller of the serial protocol."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import tempfile
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

import serial

from robot.hardware import frames


class Microcontroller:
    """The far end of a pty: records the frames the Pi sends and sends sensor frames."""

    def __init__(self) -> None:
        self.received: list[frames.Frame] = []
        self.master: int | None = None
        self.path: str | None = None
        self._slave: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.seq = 0
        # A stable name for the port, as /dev/serial/by-id/… is for a USB board: gone while
        # unplugged, so a reopening robot never finds a stranger's pty on the old number.
        self._link = Path(tempfile.mkdtemp(prefix="sim2pi-test-mcu-")) / "ttyMCU"
        self.plug()

    def plug(self) -> None:
        """A new pty appears (a USB device plugged in)."""
        master, slave = os.openpty()
        tty.setraw(slave)
        # A line nobody reads loses what is sent on it; a blocking write would instead hang the
        # test for ever once the robot under test has died and the pty's buffer is full.
        os.set_blocking(master, False)
        self._link.unlink(missing_ok=True)
        os.symlink(os.ttyname(slave), self._link)
        self.master, self._slave, self.path = master, slave, str(self._link)
        self._stop.clear()
        self._thread = threading.Thread(target=self._read, args=(master,), daemon=True)
        self._thread.start()

    def unplug(self) -> None:
        """The pty vanishes: reads and writes on the Pi's side fail."""
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        for fd in (self.master, self._slave):
            if fd is not None:
                os.close(fd)
        self.master = self._slave = self.path = None
        self._link.unlink(missing_ok=True)

    def _read(self, master: int) -> None:
        splitter = frames.LineSplitter()
        while not self._stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.02)
            if not ready:
                continue
            try:
                data = os.read(master, 1024)
            except OSError:
                return
            for line in splitter.feed(data):
                self.received.append(frames.decode(line))

    def send(self, data: bytes) -> None:
        """Send ``data``; what does not fit in the pty's buffer (nobody reads) is lost."""
        assert self.master is not None
        with contextlib.suppress(BlockingIOError):
            os.write(self.master, data)

    def send_ranges(self, ranges_m: tuple[float, ...], **flags: bool) -> None:
        self.send(frames.encode_sensor(self.seq, self.seq * 50, ranges_m, **flags))
        self.seq = (self.seq + 1) % frames.SEQ_MODULUS

    def open_port(self) -> serial.Serial:
        """What the backend calls to (re)open the port: fails while unplugged."""
        if self.path is None:
            raise serial.SerialException("[Errno 2] could not open port: no such device")
        return serial.serial_for_url(self.path, baudrate=115200, timeout=0.02, write_timeout=0.2)

    def close(self) -> None:
        if self.master is not None:
            self.unplug()
        shutil.rmtree(self._link.parent, ignore_errors=True)


def wait_for(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)
