"""A microcontroller emulator: the simulated robot at the far end of a pseudo-terminal.

It plays the device side of sim2pi's serial protocol (``robot/hardware/frames.py``) the way
``firmware/sim2pi_mcu/sim2pi_mcu.ino`` does on a real board: every ``period_s`` it steps the
world, sends one ``$S`` frame (ranges in mm, empty on no echo, bumper and fail-safe flags), and
applies each valid ``$D`` drive frame; when no valid ``$D`` or ``$H`` has arrived for
``heartbeat_timeout_s`` it stops the motors and keeps them stopped until the next ``$D``.
After a restart — plugged in, or ``reset()`` without the port vanishing, as a board on a UART
that resets — it counts its frames from 0 again, flags them as booting (bit 2, with the
fail-safe's bit 1) and holds the motors stopped until a ``$D`` stop arrives
(``announce_restart=False``: as firmware from before the boot flag, no flag and no hold).
The world runs in real time here (the runtime's serial backend and pyserial do real I/O).

Run it beside ``python -m robot run`` with ``url`` set to the pty path it prints::

    python -m robot.hardware.sim.mcu_emulator --seed 0
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import shutil
import tempfile
import threading
import time
import tty
from pathlib import Path

from robot.errors import FrameError
from robot.hardware import frames
from shared.world import ContactTally, World

_log = logging.getLogger(__name__)

#: The sketch's heartbeat timeout: no valid D/H for this long stops the motors (seconds).
HEARTBEAT_TIMEOUT_S = 0.25
#: One measurement cycle, as the sketch pings its three HC-SR04s (seconds).
PERIOD_S = 0.05


class McuEmulator(ContactTally):
    """The world behind a pty, speaking the device side of the serial protocol."""

    def __init__(
        self,
        world: World,
        *,
        period_s: float = PERIOD_S,
        heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S,
        announce_restart: bool = True,
    ) -> None:
        """Open the pty and start the emulator's thread; ``path`` is the port to open.

        Args:
            world: the simulated robot and arena.
            period_s: one measurement cycle: a ``$S`` frame each (seconds).
            heartbeat_timeout_s: no valid ``$D``/``$H`` for this long stops the motors (seconds).
            announce_restart: flag frames after a restart as booting (bit 2) and hold the motors
                until a ``$D`` stop; False: as firmware from before the boot flag.
        """
        if not period_s > 0 or not heartbeat_timeout_s > period_s:
            raise ValueError(
                f"mcu emulator: expected 0 < period_s < heartbeat_timeout_s, found {period_s!r} "
                f"and {heartbeat_timeout_s!r}"
            )
        self.world = world
        self.period_s = period_s
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.announce_restart = announce_restart
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self.path: str | None = None
        #: Counters a test can read: valid frames in, corrupt lines dropped, heartbeat stops.
        self.drives = 0
        self.heartbeats = 0
        self.corrupt = 0
        self.failsafe_stops = 0
        #: Restarts without the port vanishing (``reset()``), and drive frames other than a stop
        #: refused while booting.
        self.resets = 0
        self.refused_while_booting = 0
        #: Every applied drive frame: (monotonic s, left duty, right duty), in order.
        self.applied: list[tuple[float, float, float]] = []
        #: Motors held stopped by the heartbeat rule; as the sketch, stopped until the first D.
        self.failsafe = True
        #: Restarted and not yet told to stop: frames carry the boot flag, only a stop is obeyed.
        self.booting = announce_restart
        self._seq = 0
        #: The world's time when the board last started (its millisecond clock counts from it).
        self._boot_s = 0.0
        self._reset_requested = threading.Event()
        self._reset_done = threading.Event()
        #: Whether the last sensor frame found nobody reading (logged once per such spell).
        self._unread = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The port's stable name, as udev's /dev/serial/by-id/… is for a USB board: a link to
        # each plug()'s pty, gone while unplugged. A robot reopening it finds this board again,
        # never a stranger's pty that reuses the old /dev/pts number.
        self._link = Path(tempfile.mkdtemp(prefix="sim2pi-mcu-")) / "ttyMCU"
        self.plug()

    def plug(self) -> None:
        """Open a fresh pty (a new ``path``) and run; after ``unplug``, the board restarted."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("mcu emulator: plug() while plugged in; call unplug() first")
        master, slave = os.openpty()
        tty.setraw(slave)
        # As a UART whose far end does not read: what does not fit in the pty's buffer is lost
        # (a blocking write would hang this thread, and unplug() with it, once nobody reads).
        os.set_blocking(master, False)
        with self._lock:
            self._master, self._slave = master, slave
            self.path = _link_to(os.ttyname(slave), self._link)
        # As the sketch after a reset: motors held stopped until the first D.
        self._restart()
        self._last_valid_s = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim2pi-mcu", daemon=True)
        self._thread.start()

    def reset(self, timeout_s: float = 2.0) -> None:
        """The board restarts and the port stays (a UART board's reset button, a brown-out):
        motors stopped, fail-safe on, frames numbered from 0 again; returns once it has."""
        self._reset_done.clear()
        self._reset_requested.set()
        if not self._reset_done.wait(timeout_s):
            raise RuntimeError(f"mcu emulator: reset not done within {timeout_s} s (unplugged?)")

    def _restart(self) -> None:
        """The state of a board that has just started."""
        self._seq = 0
        self._boot_s = self.world.time_s
        self.failsafe = True
        self.booting = self.announce_restart
        self.world.set_duties(0.0, 0.0)

    def send_raw(self, data: bytes) -> None:
        """Write ``data`` on the line as is (fault injection: garbage, torn frames)."""
        with self._lock:
            if self._master is not None:
                os.write(self._master, data)

    def unplug(self) -> None:
        """The port vanishes (a USB cable pulled): the pty closes, the motors stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None
            self.path = None
            self.world.set_duties(0.0, 0.0)
            self._link.unlink(missing_ok=True)

    def close(self) -> None:
        """Unplug, and remove the folder of the stable link."""
        self.unplug()
        shutil.rmtree(self._link.parent, ignore_errors=True)

    def _run(self) -> None:
        master = self._master
        assert master is not None, "plug() opens the pty before the thread starts"
        splitter = frames.LineSplitter()
        next_s = time.monotonic()
        while not self._stop.is_set():
            if self._reset_requested.is_set():
                self._reset_requested.clear()
                self._restart()
                splitter.reset()  # a half-received line is lost with the board's RAM
                self.resets += 1
                _log.warning("mcu: reset (the port stays): motors stopped, frames from 0")
                self._reset_done.set()
            now_s = time.monotonic()
            timeout_s = max(0.0, next_s - now_s)
            ready, _, _ = select.select([master], [], [], timeout_s)
            if ready:
                try:
                    data = os.read(master, 1024)
                except OSError:
                    return
                for line in splitter.feed(data):
                    self._handle(line)
            now_s = time.monotonic()
            if now_s - self._last_valid_s > self.heartbeat_timeout_s and not self.failsafe:
                self.failsafe = True
                self.failsafe_stops += 1
                self.world.set_duties(0.0, 0.0)
                _log.warning(
                    "mcu: no D/H frame for %.3f s: motors stopped", self.heartbeat_timeout_s
                )
            if now_s >= next_s:
                self.world.step(self.period_s)
                self._count()
                self._send_sensors()
                next_s += self.period_s
                if next_s < now_s:  # fell behind (a loaded host): do not burst to catch up
                    next_s = now_s + self.period_s

    def _handle(self, line: bytes) -> None:
        try:
            frame = frames.decode(line)
        except FrameError as exc:
            self.corrupt += 1
            _log.info("mcu: dropped a corrupt line: %s", exc)
            return
        if isinstance(frame, frames.DriveFrame):
            if self.booting and (frame.left, frame.right) != (0.0, 0.0):
                self.refused_while_booting += 1  # after a restart only a stop ends the hold
                return
            self.drives += 1
            self.booting = False
            self.failsafe = False
            self.world.set_duties(frame.left, frame.right)
            self.applied.append((time.monotonic(), frame.left, frame.right))
        elif isinstance(frame, frames.HeartbeatFrame):
            self.heartbeats += 1
        else:
            self.corrupt += 1
            return
        self._last_valid_s = time.monotonic()

    def _send_sensors(self) -> None:
        ranges_m = [float("nan") if r is None else r for r in self.world.ranges_m()]
        line = frames.encode_sensor(
            self._seq,
            round((self.world.time_s - self._boot_s) * 1000.0),
            ranges_m,
            bumper=self.world.bumper_pressed,
            mcu_failsafe=self.failsafe,
            booting=self.booting,
        )
        self._seq = (self._seq + 1) % frames.SEQ_MODULUS
        try:
            self.send_raw(line)
        except OSError as exc:  # BlockingIOError: the pty's buffer is full, nobody reads
            if not self._unread:
                _log.info("mcu: nobody reads the line (%s); sensor frames are lost", exc)
            self._unread = True
        else:
            self._unread = False


def main(argv: list[str] | None = None) -> int:
    """``python -m robot.hardware.sim.mcu_emulator``: print the pty path, emulate until Ctrl-C."""
    from robot.config import SimConfig
    from robot.hardware.sim.backend import build_world

    parser = argparse.ArgumentParser(
        prog="python -m robot.hardware.sim.mcu_emulator",
        description="Emulate the sim2pi microcontroller on a pty, with the simulated robot.",
    )
    parser.add_argument("--seed", type=int, default=0, help="world seed (arena, pose, noise)")
    parser.add_argument("--noise-std-m", type=float, default=0.01, help="range noise (m)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = SimConfig(gpio=None, seed=args.seed, noise_std_m=args.noise_std_m)
    emulator = McuEmulator(build_world(config))
    print(f"sim2pi mcu emulator on {emulator.path}; set [hardware.serial] url to it", flush=True)
    try:
        while True:
            time.sleep(1.0)
            world = emulator.world
            _log.info(
                "t %.0f s, distance %.2f m, duties %s",
                world.time_s,
                world.distance_travelled_m,
                world.duties,
            )
    except KeyboardInterrupt:
        pass
    finally:
        emulator.close()
    return 0


def _link_to(pty: str, link: Path) -> str:
    """Point ``link`` at ``pty`` (replacing an older link) and return the link's path."""
    link.unlink(missing_ok=True)
    os.symlink(pty, link)
    return str(link)


if __name__ == "__main__":
    raise SystemExit(main())
