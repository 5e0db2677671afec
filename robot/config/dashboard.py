"""``[dashboard]``: where ``python -m robot dashboard`` listens and how often its page refreshes.

The dashboard is a separate, read-only process beside the control loop (``robot/dashboard/``);
the loop itself never opens a socket. Every default and range is stated here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from robot.config.rules import Problem
from robot.config.section import Section, integer, number, text

#: Names accepted besides IP address literals (resolved by the system, usually to 127.0.0.1).
ADDRESS_NAMES = ("localhost",)
#: A DNS name: letters, digits, hyphens and dots.
_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


@dataclass(frozen=True)
class DashboardConfig(Section):
    """The live web view of the robot's telemetry (off the robot's network unless opened)."""

    toml_path: ClassVar[str] = "dashboard"
    #: The address it listens on: 127.0.0.1 (this machine only), 0.0.0.0 (every interface: the
    #: LAN; see docs/dashboard.md before), or one interface's own address.
    address: str = text("127.0.0.1", fix='write an IP address in quotes, e.g. "127.0.0.1"')
    #: The TCP port of the page (a free one above 1023: no privilege needed to bind it).
    port: int = integer(8420, low=1024, high=65535)
    #: How often the page asks for new values (Hz); below 5 a moving robot looks stuck.
    refresh_hz: float = number(10.0, low=5.0, high=30.0, unit="Hz")
    #: Host names the page may be reached by besides IP addresses and localhost, separated by
    #: spaces (e.g. "robot.local"); a request naming another host is refused (DNS rebinding).
    host_names: str = text("", fix='write names in quotes, e.g. "robot.local robot.lan"')

    @property
    def names(self) -> tuple[str, ...]:
        """``host_names`` as a tuple."""
        return tuple(self.host_names.split())

    def cross_checks(self) -> Iterable[Problem | None]:
        """The address is a unicast IP address literal (or ``localhost``), not a host name to look
        up; ``host_names`` are names."""
        fix = 'use "127.0.0.1" (this machine), "0.0.0.0" (every interface) or one of its IPs'
        for name in self.names:
            if not _HOST_NAME.fullmatch(name):
                yield Problem(
                    "host_names", f"expected host names, found {name!r}", "e.g. robot.local"
                )
        if self.address in ADDRESS_NAMES:
            return
        try:
            ip = ipaddress.ip_address(self.address)
        except ValueError:
            yield Problem("address", f"expected an IP address, found {self.address!r}", fix)
            return
        if ip.is_multicast:
            yield Problem("address", f"expected a unicast address, found {self.address!r}", fix)
