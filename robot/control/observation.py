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
FLOAT32_MAX = float(np.finfo(np.float32).max)


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
        self._channels = range(spec.size)
        self._observation = np.zeros(spec.size, dtype=np.float32)
        # Channel values go in through a memoryview: the same float32 rounding as numpy's own
        # item assignment, without numpy's per-item dispatch (this runs every tick). A range
        # beyond float32 would make the view raise where numpy writes inf: numpy then.
        finite32 = all(abs(v) <= FLOAT32_MAX for v in self._lows + self._highs)
        self._out: memoryview | np.ndarray = (
            memoryview(self._observation) if finite32 else self._observation
        )

    def build(self, snapshot: Snapshot, now_s: float) -> np.ndarray | Refusal:
        """The observation (a reused float32 array: copy it to keep it), or why not."""
        if snapshot.faults:
            return Refusal(FAULT, "; ".join(snapshot.faults))
        values = snapshot.values
        if len(values) != len(self._names):
            return Refusal(
                INVALID,
                f"snapshot has {len(values)} values, the spec {len(self._names)} channels",
            )
        max_age_s, out = self.max_age_s, self._out
        for i, value, read_at, low, high in zip(
            self._channels, values, snapshot.read_at_s, self._lows, self._highs, strict=True
        ):
            if not now_s - read_at <= max_age_s:  # also catches a channel never read (age inf)
                age = now_s - read_at
                when = "never read" if read_at == -math.inf else f"{age:.3f} s old"
                return Refusal(STALE, f"{self._names[i]} is {when} (limit {max_age_s} s)")
            if not -math.inf < value < math.inf:  # NaN fails both comparisons
                return Refusal(INVALID, f"{self._names[i]} = {value!r}")
            # Sensors saturate: a reading beyond the spec's range means "at least that far", the
            # simulator never produces values outside it, so the policy sees the range's end.
            out[i] = value if low <= value <= high else (low if value < low else high)
        return self._observation
