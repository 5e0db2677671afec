"""From a hardware snapshot to the policy's raw observation, refusing stale or invalid data."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robot.hardware.base import Snapshot
from shared.spec import ObservationSpec

#: Why an observation was refused; each also names a fail-safe stop reason.
STALE = "stale"
INVALID = "invalid"
FAULT = "fault"


@dataclass(frozen=True)
class Refusal:
    """Why a snapshot cannot be turned into an observation: a reason and a human detail."""

    reason: str
    detail: str


class ObservationBuilder:
    """Checks age and validity, then saturates each channel to its spec range [low, high]."""

    def __init__(self, spec: ObservationSpec, max_age_s: float) -> None:
        self.spec = spec
        self.max_age_s = max_age_s
        self._names = spec.names
        self._lows = [c.low for c in spec.channels]
        self._highs = [c.high for c in spec.channels]
        self._observation = np.zeros(spec.size, dtype=np.float32)

    def build(self, snapshot: Snapshot, now_s: float) -> np.ndarray | Refusal:
        """The observation (a reused float32 array: copy it to keep it), or why not."""
        if snapshot.faults:
            return Refusal(FAULT, "; ".join(snapshot.faults))
        if len(snapshot.values) != len(self._names):
            return Refusal(
                INVALID,
                f"snapshot has {len(snapshot.values)} values, the spec {len(self._names)} channels",
            )
        for i, (value, read_at) in enumerate(zip(snapshot.values, snapshot.read_at_s, strict=True)):
            age = now_s - read_at
            if not age <= self.max_age_s:  # also catches a channel never read (age inf)
                when = "never read" if read_at == -math.inf else f"{age:.3f} s old"
                return Refusal(STALE, f"{self._names[i]} is {when} (limit {self.max_age_s} s)")
            if not math.isfinite(value):
                return Refusal(INVALID, f"{self._names[i]} = {value!r}")
            # Sensors saturate: a reading beyond the spec's range means "at least that far", the
            # simulator never produces values outside it, so the policy sees the range's end.
            self._observation[i] = min(self._highs[i], max(self._lows[i], value))
        return self._observation
