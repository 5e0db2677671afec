"""What one run's telemetry says in numbers: ticks, rate, stops by reason, lateness, compute."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer.telemetry.read import Run


@dataclass(frozen=True)
class Span:
    """Consecutive records holding the same value of a field (a stop, a takeover)."""

    reason: str
    first: int  # index of its first record
    last: int  # index of its last record


@dataclass
class RunSummary:
    """A run's totals, from its records (every ``every_n_ticks``-th tick when sampled)."""

    number: int
    records: int
    first_tick: int
    last_tick: int
    duration_s: float
    #: Reason → (events, records held): an event is a change from driving or another reason.
    stops: dict[str, tuple[int, int]] = field(default_factory=dict)
    takeovers: dict[str, tuple[int, int]] = field(default_factory=dict)
    overruns: int = 0
    bumper_presses: int = 0
    lateness_us: tuple[float, float] = (math.nan, math.nan)  # p50, p99
    compute_us: tuple[float, float] = (math.nan, math.nan)  # p50, p99
    #: ε at the first and last record that has one (the on-robot learner).
    epsilon: tuple[float, float] | None = None
    #: Records with a learning update made on their tick (``updated``).
    updates: int = 0

    @property
    def ticks(self) -> int:
        """Ticks of the loop the records span (sampled or not)."""
        return self.last_tick - self.first_tick + 1

    @property
    def rate_hz(self) -> float | None:
        """Ticks per second between the first and the last record."""
        if self.duration_s <= 0:
            return None
        return (self.last_tick - self.first_tick) / self.duration_s


def spans(values: list[Any], begins: list[bool] | None = None) -> list[Span]:
    """Spans of consecutive equal, non-null values (stop reasons, takeover reasons); a span
    also starts where ``begins`` is True (a takeover that follows another at once)."""
    found: list[Span] = []
    for index, value in enumerate(values):
        if value is None or value is False:
            continue
        reason = str(value)
        new = begins is not None and begins[index]
        if not new and found and found[-1].reason == reason and found[-1].last == index - 1:
            found[-1] = Span(reason, found[-1].first, index)
        else:
            found.append(Span(reason, index, index))
    return found


def count_by_reason(
    values: list[Any], begins: list[bool] | None = None
) -> dict[str, tuple[int, int]]:
    """Reason → (events, records) in order of first appearance (``begins``: as ``spans``)."""
    counts: dict[str, tuple[int, int]] = {}
    for span in spans(values, begins):
        events, held = counts.get(span.reason, (0, 0))
        counts[span.reason] = (events + 1, held + span.last - span.first + 1)
    return counts


#: Beyond this a value is not a measurement (µs, metres, duties, Q-values): plotted as a gap,
#: so that one hostile number neither overflows a float nor flattens every other line.
MAX_MAGNITUDE = 1e15


def numbers(values: list[Any]) -> np.ndarray:
    """``values`` as floats, NaN where missing, null, not a number, not finite or beyond
    ±``MAX_MAGNITUDE``."""
    return np.array([_number(v) for v in values], dtype=np.float64)


def _number(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return math.nan
    # Compared before float(): a 400-digit integer is too large for a float.
    return float(value) if -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE else math.nan


def updates_so_far(run: Run) -> np.ndarray:
    """The learner's updates made in ``run`` up to each record (0 where it does not learn).

    The learner records its cumulative count (``updates``, over every run of its state); the
    run's own count starts from the first record's, less that record's own update. Telemetry
    written before the count existed is counted from ``td_error``, on the ticks the learner was
    asked only (it then repeated its last update through a supervisor's takeover): a tick it
    decided (``action`` set) or the first of a takeover.
    """
    counts = numbers(run.values("updates"))
    if not np.isnan(counts).all():
        counts = np.fmax.accumulate(np.nan_to_num(counts, nan=-np.inf))
        first = run.records[0].fields
        baseline = counts[0] - int(first.get("td_error") is not None)
        return np.maximum(counts - baseline, 0.0)
    flags: list[bool] = []
    previous: Any = None
    for record in run.records:
        fields = record.fields
        takeover = fields.get("supervisor")
        asked = fields.get("action") is not None or (takeover is not None and previous is None)
        flags.append(fields.get("td_error") is not None and asked)
        previous = takeover
    return np.cumsum(flags, dtype=np.float64)


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    kept = values[~np.isnan(values)]
    if kept.size == 0:
        return math.nan, math.nan
    p50, p99 = np.percentile(kept, [50, 99])
    return float(p50), float(p99)


def summarize(run: Run) -> RunSummary:
    """The totals of ``run``."""
    first, last = run.records[0], run.records[-1]
    # As the robot's own summary: lateness counts only late starts (early is 0).
    late = np.maximum(numbers(run.values("late_us")), 0.0)
    epsilon = numbers(run.values("epsilon"))
    known = epsilon[~np.isnan(epsilon)]
    return RunSummary(
        number=run.number,
        records=len(run.records),
        first_tick=first.tick,
        last_tick=last.tick,
        duration_s=last.t_s - first.t_s,
        stops=count_by_reason(run.values("stopped")),
        takeovers=count_by_reason(
            run.values("supervisor"), [v is True for v in run.values("takeover_begins")]
        ),
        overruns=sum(1 for v in run.values("overrun") if v is True),
        bumper_presses=len(spans([v is True for v in run.values("bumper")])),
        lateness_us=_percentiles(late),
        compute_us=_percentiles(numbers(run.values("compute_us"))),
        epsilon=(float(known[0]), float(known[-1])) if known.size else None,
        updates=int(updates_so_far(run)[-1]),
    )


def _reasons(counts: dict[str, tuple[int, int]]) -> str:
    return ", ".join(f"{r} ×{e} ({n} records)" for r, (e, n) in counts.items()) or "none"


def _us(pair: tuple[float, float]) -> str:
    return "p50 n/a" if math.isnan(pair[0]) else f"p50 {pair[0]:.1f} p99 {pair[1]:.1f}"


def paragraph(summary: RunSummary, total_runs: int) -> str:
    """The summary as one paragraph for the terminal."""
    s = summary
    rate = "n/a" if s.rate_hz is None else f"{s.rate_hz:.2f} Hz"
    text = (
        f"run {s.number} of {total_runs}: ticks {s.first_tick}-{s.last_tick} ({s.ticks} ticks, "
        f"{s.records} records) over {s.duration_s:.2f} s ({rate}); stops: {_reasons(s.stops)}; "
        f"supervisor takeovers: {_reasons(s.takeovers)}; overruns: {s.overruns}; "
        f"lateness µs {_us(s.lateness_us)}; compute µs {_us(s.compute_us)}"
    )
    if s.bumper_presses:
        text += f"; bumper pressed ×{s.bumper_presses}"
    if s.epsilon is not None:
        text += f"; learning: ε {s.epsilon[0]:g} → {s.epsilon[1]:g}, {s.updates} updates"
    return text + "."


def table_rows(summary: RunSummary) -> list[tuple[str, str]]:
    """(name, value) rows for the HTML report's table."""
    s = summary
    rows = [
        ("ticks", f"{s.ticks} ({s.first_tick}–{s.last_tick}; {s.records} records)"),
        ("duration", f"{s.duration_s:.3f} s"),
        ("rate", "n/a" if s.rate_hz is None else f"{s.rate_hz:.3f} Hz"),
    ]
    rows += [(f"stops: {r}", f"×{e} ({n} records)") for r, (e, n) in s.stops.items()]
    if not s.stops:
        rows.append(("stops", "none"))
    rows += [(f"supervisor: {r}", f"×{e} ({n} records)") for r, (e, n) in s.takeovers.items()]
    rows += [
        ("overruns", str(s.overruns)),
        ("lateness p50 / p99", _pair(s.lateness_us)),
        ("compute p50 / p99", _pair(s.compute_us)),
    ]
    if s.bumper_presses:
        rows.append(("bumper presses", str(s.bumper_presses)))
    if s.epsilon is not None:
        rows.append(("ε first → last", f"{s.epsilon[0]:g} → {s.epsilon[1]:g}"))
        rows.append(("updates", str(s.updates)))
    return rows


def _pair(pair: tuple[float, float]) -> str:
    return "n/a" if math.isnan(pair[0]) else f"{pair[0]:.1f} / {pair[1]:.1f} µs"
