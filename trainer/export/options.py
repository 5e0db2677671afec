"""What ``export_run`` is asked to do (``ExportOptions``), and the refusal of a bad request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.errors import UsageError
from trainer.export.parity import MIN_AGREEMENT, TIE_EPSILON
from trainer.export.returns import RETURN_EPISODES
from trainer.export.tflite import QUANTIZATIONS
from trainer.rundir import RunDir


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how strictly to check it."""

    #: also write the full-integer int8 model
    int8: bool = False
    #: the compact model's quantisation: ``auto`` (``AUTO_QUANTIZATIONS`` in order, the first
    #: whose gate holds) or one of ``trainer.export.tflite.QUANTIZATIONS``
    int8_mode: str = "auto"
    #: evaluation episodes of the compact model's return gate (``trainer.export.returns``);
    #: 0: no return gate, agreement only
    return_episodes: int = RETURN_EPISODES
    #: DQN run: also distil the network onto a Q-table (a tabular run always exports its table)
    qtable: bool = False
    #: checkpoint of the run to export: ``best`` or ``last``
    checkpoint: str = "best"
    #: bins of the distilled Q-table: one count, or one per channel (None: preset, else 6)
    bins: tuple[int, ...] | None = None
    #: ``--bins auto``: the distilled Q-table's grid fitted to the rollouts (``distill.auto_grid``)
    auto_bins: bool = False
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
    #: env kwargs laid over the run's for the rollouts, the parity and the return checks (the
    #: env a robot profile describes, ``robot_profile.profile_for``; empty: the run's own env)
    env_overrides: Mapping[str, Any] = field(default_factory=dict)
    #: the robot profile those came from (``RobotProfile.record()``), kept in the manifest
    robot_profile: Mapping[str, Any] | None = None


def eval_env(run: RunDir, options: ExportOptions) -> dict[str, Any]:
    """The env the rollouts, the parity and the return checks run in (the manifest's
    ``export.eval_env``): the run's, or the run's with a robot profile's robot (``profile_for``)."""
    recorded = dict(run.config.get("env_kwargs") or {})
    return {
        "env_kwargs": {**recorded, **options.env_overrides},
        "robot_profile": None if options.robot_profile is None else dict(options.robot_profile),
    }


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
    if options.int8_mode not in ("auto", *QUANTIZATIONS):
        raise UsageError(
            f"--int8-mode: expected auto or one of {', '.join(QUANTIZATIONS)}, "
            f"found {options.int8_mode!r}"
        )
    if options.return_episodes < 0:
        raise UsageError(
            f"--return-episodes: expected a count >= 0, found {options.return_episodes}"
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
    _validate_grid(run, options)
    if out.exists() and not options.overwrite:
        raise UsageError(f"--out {out}: already exists; choose another path or pass --overwrite")


def _validate_grid(run: RunDir, options: ExportOptions) -> None:
    """``--bins``, ``--bins auto`` and ``--bin-edges``: at most one, and only with ``--qtable``
    on a DQN run."""
    if options.auto_bins and (options.bins is not None or options.bin_edges is not None):
        raise UsageError("--bins auto: give one of --bins auto, --bins N and --bin-edges")
    grids = (
        ("--bins", options.bins or (options.auto_bins or None)),
        ("--bin-edges", options.bin_edges),
    )
    for flag, value in grids:
        if value is not None and not (run.algo == "dqn" and options.qtable):
            raise UsageError(
                f"{flag}: sets the grid of a Q-table distilled from a DQN run; add --qtable "
                "(a tabular run keeps the grid it was trained on)"
            )
