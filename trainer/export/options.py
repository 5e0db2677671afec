"""What ``export_run`` is asked to do (``ExportOptions``), and the refusal of a bad request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trainer.errors import UsageError
from trainer.export.parity import MIN_AGREEMENT, TIE_EPSILON
from trainer.rundir import RunDir


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how strictly to check it."""

    #: also write the full-integer int8 model
    int8: bool = False
    #: DQN run: also distil the network onto a Q-table (a tabular run always exports its table)
    qtable: bool = False
    #: checkpoint of the run to export: ``best`` or ``last``
    checkpoint: str = "best"
    #: bins of the distilled Q-table: one count, or one per channel (None: preset, else 6)
    bins: tuple[int, ...] | None = None
    #: inner bin edges of the distilled Q-table in the channels' units: one tuple for every
    #: channel, or one per channel in the spec's order (instead of ``bins``)
    bin_edges: tuple[tuple[float, ...], ...] | None = None
    #: how the DQN is distilled: ``visited`` or ``centres`` (``trainer.export.distill``)
    qtable_method: str = "visited"
    #: rollout states for calibration and the parity check (at least 10,000 by default)
    parity_states: int = 10_000
    #: Keras top-2 Q gap (Q units) below which a state is a tie, excluded from agreement
    tie_epsilon: float = TIE_EPSILON
    #: minimum greedy agreement per model kind (share of non-tie states)
    min_agreement: Mapping[str, float] = field(default_factory=lambda: dict(MIN_AGREEMENT))
    #: replace an existing bundle directory
    overwrite: bool = False


def validate(run: RunDir, out: Path, options: ExportOptions) -> None:
    """Refuse bad requests before any expensive work."""
    if options.checkpoint not in ("best", "last"):
        raise UsageError(f"--checkpoint: expected best or last, found {options.checkpoint!r}")
    if run.algo not in ("dqn", "qlearning"):
        raise UsageError(f"{run.path}/config.json: algo {run.algo!r} is not dqn or qlearning")
    if run.algo == "qlearning" and options.int8:
        raise UsageError(
            f"--int8: {run.path} is a tabular (qlearning) run, it has no network to quantise; "
            "drop --int8 (its Q-table is exported)"
        )
    if options.parity_states < 1:
        raise UsageError(
            f"--parity-states: expected a positive count, found {options.parity_states}"
        )
    if not options.tie_epsilon >= 0:
        raise UsageError(f"--tie-epsilon: expected >= 0, found {options.tie_epsilon}")
    for kind, minimum in options.min_agreement.items():
        if not 0.0 <= minimum <= 1.0:
            raise UsageError(f"--min-agreement-{kind}: expected a share in [0, 1], found {minimum}")
    for flag, value in (("--bins", options.bins), ("--bin-edges", options.bin_edges)):
        if value is not None and not (run.algo == "dqn" and options.qtable):
            raise UsageError(
                f"{flag}: sets the grid of a Q-table distilled from a DQN run; add --qtable "
                "(a tabular run keeps the grid it was trained on)"
            )
    if out.exists() and not options.overwrite:
        raise UsageError(f"--out {out}: already exists; choose another path or pass --overwrite")
