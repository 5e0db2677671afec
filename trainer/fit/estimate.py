"""One fitted parameter: its value, its uncertainty, whether the drive identified it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Estimate:
    """One parameter: value, 1-σ uncertainty, identified or why not."""

    value: float
    sigma: float
    identified: bool
    why_not: str = ""
