"""This process's age and memory, read from /proc (Linux); for the exit summary and ``bench``."""

from __future__ import annotations

import os
import time
from pathlib import Path

_START_MONOTONIC_S = time.monotonic()


def process_age_s() -> float:
    """Seconds since this process started (since this module was imported, without /proc)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 of proc(5): starttime, in clock ticks after boot
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
        return uptime_s - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _START_MONOTONIC_S


def rss_mb() -> float | None:
    """Resident set size in MiB (None where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        return None
    return None
