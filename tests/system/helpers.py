"""What the system tests read from the guest: its journal, and what the motor pins last held."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from tests.system.guest import STATE, UNIT, Guest


class Journal:
    """The guest's journal for the unit (systemd's own lines about it and the runtime's), from
    the moment this was made on."""

    def __init__(self, guest: Guest) -> None:
        """Remember the journal's current end."""
        self.guest = guest
        out = guest.sh("journalctl -q -n 0 --show-cursor").stdout
        self.cursor = out.strip().rsplit("cursor: ", 1)[-1]

    def text(self) -> str:
        """The unit's entries since then, one a line (``-o cat``)."""
        return self.guest.sh(
            f"journalctl -q --no-pager -o cat -u {UNIT} --after-cursor='{self.cursor}'"
        ).stdout

    def wait_for(self, *needles: str, timeout_s: float = 60) -> str:
        """Wait until every needle is in ``text()``; the text."""

        def found() -> str | None:
            text = self.text()
            return text if all(needle in text for needle in needles) else None

        return self.guest.wait_for(f"journal lines {needles!r}", found, timeout_s, every_s=0.3)


class PinWatcher:
    """Every distinct record of the sim backend's pins file, polled from the host's side of the
    guest's root (robot/hardware/sim/pin_record.py), while the watcher runs."""

    def __init__(self, guest: Guest) -> None:
        """Watch ``STATE/pins.json`` in ``guest``'s root."""
        self.path = Path(str(guest.merged) + STATE) / "pins.json"
        self.records: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> PinWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                record = json.loads(self.path.read_text())
            except (OSError, ValueError):
                record = None
            if record is not None and (not self.records or self.records[-1] != record):
                self.records.append(record)
            time.sleep(0.01)

    def mark(self) -> int:
        """The number of records so far (for ``wait_for(since=…)``)."""
        return len(self.records)

    def wait_for(self, what: str, predicate, timeout_s: float = 60, since: int = 0) -> dict:
        """Wait for a record (the ``since``-th on) that satisfies ``predicate``; that record."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for record in self.records[since:]:
                if predicate(record):
                    return record
            time.sleep(0.02)
        raise AssertionError(f"no pins record {what} within {timeout_s} s: {self.records[-5:]}")


def driving(pid: int):
    """A predicate: the runtime ``pid`` holds some motor pin above 0."""
    return lambda r: r["writer"] == "robot run" and r["pid"] == pid and any(r["pins"].values())


def stopped_by_robot_stop(record: dict) -> bool:
    """``robot stop`` (ExecStopPost) drove every configured motor pin to 0."""
    return record["writer"] == "robot stop" and not any(record["pins"].values())
