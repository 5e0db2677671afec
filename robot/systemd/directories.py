"""The directories systemd gives a service (``StateDirectory=`` → ``$STATE_DIRECTORY``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def state_directory(environ: Mapping[str, str] = os.environ) -> Path | None:
    """systemd's ``$STATE_DIRECTORY`` (from ``StateDirectory=``; the first of several), or None."""
    value = environ.get("STATE_DIRECTORY", "")
    first = value.split(":")[0]
    return Path(first) if first else None
