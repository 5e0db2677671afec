"""Parity: does each exported policy choose the Keras model's greedy action on visited states?

A state is a *tie* when the Keras model's two largest Q-values differ by less than
``tie_epsilon`` (Q units) or by less than ``TIE_RELATIVE`` of the largest |Q|: there the greedy
action is decided by rounding, not by the policy, so ties are excluded from the agreement and
counted. The export fails unless float32 agrees on
every non-tie state and int8 on at least 99%, unless a flag lowers a threshold (recorded).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer.errors import TrainerError
from trainer.export.rollouts import ROLLOUT_SEED_BASE

#: Default tie threshold: a Keras top-2 Q gap below this (Q units) is a tie.
TIE_EPSILON = 1e-5
#: A top-2 gap below this share of the state's largest |Q| is a tie too: float32's unit
#: roundoff is 6e-8, and a layer of 64 products sums up to 64 of them, so two float32
#: implementations of a 3-layer MLP may differ by ~1e-5 of the values (Q ≈ 65 differed by
#: 1.75e-4 between Keras and the TFLite file of the same weights).
TIE_RELATIVE = 1e-5
#: Default minimum greedy agreement (share of non-tie states) per exported model kind.
MIN_AGREEMENT = {"float32": 1.0, "int8": 0.99}


class ParityError(TrainerError):
    """An exported policy disagrees with the Keras model more than its threshold allows."""


@dataclass(frozen=True)
class Agreement:
    """Greedy agreement of one exported policy with the reference Q-values on visited states."""

    states: int
    ties_excluded: int
    disagreements: int
    max_abs_q_diff: float

    @property
    def compared(self) -> int:
        """States that are not ties."""
        return self.states - self.ties_excluded

    @property
    def rate(self) -> float:
        """Share of non-tie states on which the greedy actions agree (1.0 if all are ties)."""
        return 1.0 if self.compared == 0 else 1.0 - self.disagreements / self.compared

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the manifest's ``parity`` section."""
        return {
            "agreement": self.rate,
            "states": self.states,
            "ties_excluded": self.ties_excluded,
            "disagreements": self.disagreements,
            "max_abs_q_diff": self.max_abs_q_diff,
        }


def tie_mask(reference_q: np.ndarray, tie_epsilon: float, relative: float = 0.0) -> np.ndarray:
    """True where the reference's two largest Q-values are closer than ``tie_epsilon``, or than
    ``relative`` times the row's largest |Q|."""
    q = np.asarray(reference_q, dtype=np.float64)
    if q.shape[1] < 2 or not len(q):
        return np.zeros(len(q), dtype=bool)
    top2 = np.sort(q, axis=1)[:, -2:]
    gap = top2[:, 1] - top2[:, 0]
    return (gap < tie_epsilon) | (gap < relative * np.max(np.abs(q), axis=1))


def agreement(
    reference_q: np.ndarray, exported_q: np.ndarray, tie_epsilon: float, min_gap: float = 0.0
) -> Agreement:
    """Compare greedy actions (ties excluded) and Q-values of two (N, n_actions) arrays.

    Args:
        reference_q: the Keras model's (or the run's table's) Q-values.
        exported_q: the exported policy's Q-values on the same states.
        tie_epsilon: a reference top-2 gap below this is a tie (Q units); so is one below
            ``TIE_RELATIVE`` of the state's largest |Q|.
        min_gap: only compare states whose reference top-2 gap is at least this (Q units).
    """
    reference = np.asarray(reference_q, dtype=np.float64)
    exported = np.asarray(exported_q, dtype=np.float64)
    if reference.shape != exported.shape:
        raise ValueError(f"Q-values: shapes differ, {reference.shape} vs {exported.shape}")
    if min_gap > 0:
        wide = ~tie_mask(reference, min_gap)
        reference, exported = reference[wide], exported[wide]
    ties = tie_mask(reference, tie_epsilon, relative=TIE_RELATIVE)
    differ = (reference.argmax(axis=1) != exported.argmax(axis=1)) & ~ties
    return Agreement(
        states=len(reference),
        ties_excluded=int(ties.sum()),
        disagreements=int(differ.sum()),
        max_abs_q_diff=float(np.max(np.abs(reference - exported))) if len(reference) else 0.0,
    )


def failures(
    results: Mapping[str, Agreement],
    minimums: Mapping[str, float],
    returns: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[str]:
    """What fails the gate, per model kind: agreement below its minimum, unless the kind's
    return check (``trainer.export.returns``) passed."""
    found = []
    for kind, result in results.items():
        if kind not in minimums or result.rate >= minimums[kind]:
            continue
        check = (returns or {}).get(kind)
        if check is not None and check["passed"]:
            continue
        text = (
            f"{kind} agrees on {result.rate:.4%} of {result.compared} non-tie states "
            f"({result.disagreements} differ), below the required {minimums[kind]:.2%}"
        )
        if check is not None:
            text += (
                f", and returns {check['int8_mean']:.2f} over {check['episodes']} episodes "
                f"against float32's {check['float32_mean']:.2f} (required {check['required']:.2f})"
            )
        found.append(text)
    return found


def check_thresholds(
    results: Mapping[str, Agreement],
    minimums: Mapping[str, float],
    returns: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Raise ParityError naming every model kind that fails its gate (``failures``)."""
    failed = failures(results, minimums, returns)
    if failed:
        raise ParityError(
            "parity check failed: "
            + "; ".join(failed)
            + "; nothing was written. Train longer (larger Q gaps) or, knowingly, lower the bar "
            "with --min-agreement-float32/--min-agreement-int8 (recorded in the manifest)"
        )


def parity_report(
    reference_q: np.ndarray,
    exported_q: Mapping[str, np.ndarray],
    *,
    reference: str,
    states: int,
    episodes: int,
    model_kinds: Sequence[str],
    tie_epsilon: float,
    min_agreement: Mapping[str, float],
    int8_quantum: float | None,
) -> tuple[dict[str, Any], dict[str, Agreement]]:
    """The manifest's ``parity`` section and each exported policy's Agreement.

    Args:
        reference_q: the reference Q-values (N, n_actions) on the rollout states.
        exported_q: each exported policy's Q-values on the same states, by kind.
        reference: what the reference is: ``keras`` or ``run_qtable``.
        states: rollout states compared (N).
        episodes: greedy episodes they came from.
        model_kinds: the exported model kinds, which have thresholds.
        tie_epsilon: a reference top-2 gap below this is a tie (Q units).
        min_agreement: thresholds asked for per model kind (``MIN_AGREEMENT`` where absent).
        int8_quantum: the int8 model's output scale (None: no int8 model).
    """
    results = {kind: agreement(reference_q, q, tie_epsilon) for kind, q in exported_q.items()}
    thresholds = {k: float(min_agreement.get(k, MIN_AGREEMENT[k])) for k in model_kinds}
    parity: dict[str, Any] = {
        "reference": reference,
        "states": states,
        "episodes": episodes,
        "rollout_seeds": [ROLLOUT_SEED_BASE, ROLLOUT_SEED_BASE + episodes - 1],
        "tie_epsilon": tie_epsilon,
        "tie_relative": TIE_RELATIVE,
        "thresholds": thresholds,
        "thresholds_lowered": any(thresholds[k] < MIN_AGREEMENT[k] for k in thresholds),
        **{kind: result.to_dict() for kind, result in results.items()},
    }
    if int8_quantum is not None:  # how much of the int8 gap is below what its output can resolve
        parity["int8"]["output_quantum"] = int8_quantum
        parity["int8"]["gap_of_at_least_one_quantum"] = agreement(
            reference_q, exported_q["int8"], tie_epsilon, min_gap=int8_quantum
        ).to_dict()
    return parity, results


def parity_lines(parity: Mapping[str, Any]) -> list[str]:
    """The parity report as printable lines."""
    relative = parity.get("tie_relative")  # absent in manifests written before it existed
    tie_relative = "" if relative is None else f" or < {relative:g}"
    lines = [
        f"parity on {parity['states']} rollout states against {parity['reference']} "
        f"(tie: top-2 Q gap < {parity['tie_epsilon']:g}"
        f"{tie_relative} of the largest |Q|)"
    ]
    for kind in ("float32", "int8", "qtable"):
        if kind not in parity:
            continue
        r = parity[kind]
        threshold = parity["thresholds"].get(kind)
        bar = "" if threshold is None else f" (required {threshold:.2%})"
        lines.append(
            f"  {kind:>7}: greedy agreement {r['agreement']:.4%}{bar}, "
            f"{r['disagreements']} differ, {r['ties_excluded']} ties excluded, "
            f"max |dQ| {r['max_abs_q_diff']:.3g}"
        )
        if "grid_states" in r:
            bins = "×".join(str(b) for b in r["bins"])
            size = f", {r['table_bytes']:,} bytes" if "table_bytes" in r else ""
            lines.append(
                f"           grid {bins} ({r['grid']}): {r['grid_states']:,} states, "
                f"{r['bins_visited']:,} visited ({r['bins_visited'] / r['grid_states']:.1%}){size}"
            )
        if "quantization" in r:
            lines.append(f"           quantisation {r['quantization']}")
        if r.get("agreement_in_sample"):
            lines.append(
                "           agreement in sample (last layer refitted on these states); "
                "the return check is out of sample"
            )
        if "returns" in r:
            ret = r["returns"]
            verdict = "passes" if ret["passed"] else "fails"
            lines.append(
                f"           return over {ret['episodes']} episodes {ret['int8_mean']:.2f} against "
                f"float32's {ret['float32_mean']:.2f} (required {ret['required']:.2f}): {verdict}"
            )
        if "gap_of_at_least_one_quantum" in r:
            wide = r["gap_of_at_least_one_quantum"]
            lines.append(
                f"           on the {wide['states']} states whose Keras top-2 gap is at least one "
                f"output quantum ({r['output_quantum']:.3g}): {wide['agreement']:.4%}"
            )
    return lines
