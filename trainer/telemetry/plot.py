"""One run's telemetry as a figure: panels against time (matplotlib, Agg, no display)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trainer.telemetry.read import Run
from trainer.telemetry.summary import numbers, spans, updates_so_far

#: The reference robot's observation: three ranges, left, front, right (metres).
RANGE_NAMES = ("range L (m)", "range F (m)", "range R (m)")
#: Panel titles (tests and readers find panels by these).
OBSERVATION, OBSERVATION_RANGES = "observation", "observation: ranges (m)"
ACTION, Q_VALUES, EVENTS = "action", "Q-values", "stops, supervisor takeovers, bumper"
TIMING, COMMAND, LEARNING = "timing (µs)", "motor command (duty)", "learning"
_EVENT_ROWS = {"stopped": "stopped", "supervisor": "supervisor", "bumper": "bumper"}
_WIDTH_IN, _PANEL_IN, _DPI = 10.0, 1.9, 80
#: The most observation channels or Q-values plotted, and action indices given a tick each.
MAX_LINES = 32


@dataclass(frozen=True)
class Labels:
    """Names for the observation channels and actions (a bundle's, when it is known)."""

    channels: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()


def matrix(values: list[object]) -> np.ndarray:
    """Per-record lists of numbers (``obs``, ``q``) as rows, the first ``MAX_LINES`` columns;
    NaN where missing or shorter."""
    width = min(max((len(v) for v in values if isinstance(v, list)), default=0), MAX_LINES)
    rows = np.full((len(values), width), np.nan)
    for i, value in enumerate(values):
        if isinstance(value, list):
            kept = value[:width]
            rows[i, : len(kept)] = numbers(kept)
    return rows


def is_ranges(observations: np.ndarray) -> bool:
    """Whether the observation looks like a robot's three ranges (three channels, >= 0 m)."""
    known = observations[~np.isnan(observations)]
    return observations.shape[1] == 3 and known.size > 0 and bool(np.all(known >= 0.0))


def commands(values: list[object]) -> np.ndarray:
    """``command`` fields (``[left, right]`` or ``{"left": …, "right": …}``) as two columns."""
    rows = np.full((len(values), 2), np.nan)
    for i, value in enumerate(values):
        duties = [value.get("left"), value.get("right")] if isinstance(value, dict) else value
        if isinstance(duties, list) and len(duties) == 2:
            rows[i] = numbers(duties)
    return rows


def build_figure(run: Run, labels: Labels | None = None, title: str = "") -> Figure:
    """The run's figure: observation, action, Q-values, stops, timing, and when present the
    motor command and the learner's ε and updates; one panel each, sharing the time axis."""
    labels = labels or Labels()
    t_s = np.array([r.t_s for r in run.records])
    observations = matrix(run.values("obs"))
    command = commands(run.values("command"))
    epsilon = numbers(run.values("epsilon"))
    panels = [OBSERVATION, ACTION, Q_VALUES, EVENTS, TIMING]
    if not np.all(np.isnan(command)):
        panels.append(COMMAND)
    if not np.all(np.isnan(epsilon)):
        panels.append(LEARNING)
    figure = Figure(figsize=(_WIDTH_IN, _PANEL_IN * len(panels) + 0.6), dpi=_DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    by_title = dict(zip(panels, axes, strict=True))
    _observation(by_title[OBSERVATION], t_s, observations, labels)
    _action(by_title[ACTION], t_s, numbers(run.values("action")), labels)
    q_values = matrix(run.values("q"))
    _lines(by_title[Q_VALUES], Q_VALUES, t_s, q_values, _action_names(q_values, labels))
    _events(by_title[EVENTS], t_s, run)
    _timing(by_title[TIMING], t_s, run)
    if COMMAND in by_title:
        _lines(by_title[COMMAND], COMMAND, t_s, command, ["left", "right"])
    if LEARNING in by_title:
        _learning(by_title[LEARNING], t_s, run, epsilon)
    axes[-1].set_xlabel("t (s, the loop's clock)")
    for ax in axes:
        ax.grid(alpha=0.3)
    figure.suptitle(title or f"run {run.number}: {run_span(run)}", fontsize="medium")
    figure.tight_layout()
    return figure


def run_span(run: Run) -> str:
    """Which files and ticks ``run`` covers, for titles."""
    names = [p.name for p in run.files]
    files = names[0] if len(names) == 1 else f"{names[0]} … {names[-1]}"
    return f"{files}, ticks {run.records[0].tick}-{run.records[-1].tick}"


def _legend(ax: Axes) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)


def _lines(ax: Axes, title: str, t_s: np.ndarray, rows: np.ndarray, names: list[str]) -> None:
    """One line per column of ``rows``, labelled ``names``."""
    for i in range(rows.shape[1]):
        ax.plot(t_s, rows[:, i], lw=1.0, label=names[i])
    ax.set_title(title, loc="left", fontsize="medium")
    _legend(ax)


def _observation(ax: Axes, t_s: np.ndarray, rows: np.ndarray, labels: Labels) -> None:
    ranges = not labels.channels and is_ranges(rows)
    names = list(RANGE_NAMES if ranges else labels.channels)
    names += [f"obs[{i}]" for i in range(len(names), rows.shape[1])]
    for i in range(rows.shape[1]):
        ax.plot(t_s, rows[:, i], lw=1.0, label=names[i])
    ax.set_title(OBSERVATION_RANGES if ranges else OBSERVATION, loc="left", fontsize="medium")
    if ranges:
        ax.set_ylabel("m")
    _legend(ax)


def _action_names(q_values: np.ndarray, labels: Labels) -> list[str]:
    width = q_values.shape[1]
    names = list(labels.actions[:width])
    return names + [f"Q[{i}]" for i in range(len(names), width)]


def _action(ax: Axes, t_s: np.ndarray, action: np.ndarray, labels: Labels) -> None:
    ax.step(t_s, action, where="post", lw=1.0, label="chosen action")
    known = action[~np.isnan(action)]
    top = int(known.max()) if known.size else 0
    if top < MAX_LINES:  # one tick per index; beyond, matplotlib's own (read.py caps indices)
        ax.set_yticks(list(range(top + 1)))
        if labels.actions:
            names = list(labels.actions) + [str(i) for i in range(len(labels.actions), top + 1)]
            ax.set_yticklabels(names[: top + 1], fontsize="small")
    ax.set_ylim(-0.5, top + 0.5)
    ax.set_title(ACTION, loc="left", fontsize="medium")
    _legend(ax)


def _events(ax: Axes, t_s: np.ndarray, run: Run) -> None:
    """Bands per reason: the loop's stops, the supervisor's takeovers, the bumper pressed."""
    step_s = float(np.median(np.diff(t_s))) if t_s.size > 1 else 0.05
    colours = iter(f"C{i}" for i in range(1000))
    rows = {
        "stopped": run.values("stopped"),
        "supervisor": run.values("supervisor"),
        "bumper": ["pressed" if v is True else None for v in run.values("bumper")],
    }
    for row, (name, values) in enumerate(rows.items()):
        by_reason: dict[str, list[tuple[float, float]]] = {}
        for span in spans(values):
            start, end = t_s[span.first], t_s[span.last] + step_s
            by_reason.setdefault(span.reason, []).append((start, end - start))
        for reason, bars in by_reason.items():
            ax.broken_barh(bars, (row - 0.4, 0.8), color=next(colours), label=f"{name}: {reason}")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(list(rows), fontsize="small")
    ax.set_ylim(len(rows) - 0.4, -0.6)  # the loop's stops on top
    ax.set_xlim(t_s[0], t_s[-1] + step_s)
    ax.set_title(EVENTS, loc="left", fontsize="medium")
    _legend(ax)


def _timing(ax: Axes, t_s: np.ndarray, run: Run) -> None:
    late = numbers(run.values("late_us"))
    ax.plot(t_s, late, lw=1.0, label="lateness")
    ax.plot(t_s, numbers(run.values("compute_us")), lw=1.0, label="compute")
    overrun = np.array([v is True for v in run.values("overrun")], dtype=bool)
    if overrun.any():
        ax.plot(t_s[overrun], late[overrun], "x", color="red", label="overrun")
    ax.set_ylabel("µs")
    ax.set_title(TIMING, loc="left", fontsize="medium")
    _legend(ax)


def _learning(ax: Axes, t_s: np.ndarray, run: Run, epsilon: np.ndarray) -> None:
    ax.plot(t_s, epsilon, lw=1.0, color="C0", label="ε")
    ax.set_ylabel("ε")
    updates = updates_so_far(run)
    twin = ax.twinx()
    twin.plot(t_s, updates, lw=1.0, color="C1", label="updates (cumulative)")
    twin.set_ylabel("updates")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.09, 1.0), fontsize="small")
    ax.set_title(LEARNING, loc="left", fontsize="medium")


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
