"""Staging: the bundle's content written to a temp directory, each policy run from it through
``robot.inference`` (the robot's own code path and runtime choice) and compared with the
reference; the int8 model's return gate runs there too, where its agreement is below its bar.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shared.bundle import MODEL_FILES, QTABLE_FILE, Bundle, ModelEntry, write_bundle
from shared.discretize import Discretizer
from trainer.export.options import ExportOptions
from trainer.export.parity import MIN_AGREEMENT, agreement, parity_report
from trainer.export.returns import return_check
from trainer.export.tflite import tensor_infos
from trainer.rundir import RunDir

#: Robot policy name of each model kind (the robot's ``POLICY_KINDS`` inverted).
POLICY_OF_KIND = {"float32": "tflite", "int8": "tflite-int8"}


@dataclass
class Content:
    """What the bundle will hold, before the parity check: files, model entries, the grid."""

    #: the Q-table's discretiser (None: no Q-table)
    grid: Discretizer | None
    #: file name → content
    files: dict[str, bytes] = field(default_factory=dict)
    models: dict[str, ModelEntry] = field(default_factory=dict)
    #: how the DQN was distilled onto the grid (merged into the Q-table's parity entry)
    distillation: dict[str, Any] | None = None
    #: the Keras model's Q-values on the rollout states (None: a tabular run)
    keras_q: np.ndarray | None = None

    @property
    def qtable_file(self) -> str | None:
        """The Q-table's file name, if there is one."""
        return QTABLE_FILE if QTABLE_FILE in self.files else None


def policy_q_values(bundle: Bundle, kind: str, raw_states: np.ndarray) -> np.ndarray:
    """Q-values (N, n_actions) of one bundle policy, run state by state exactly as on the robot.

    ``kind``: a model kind (``float32``, ``int8``) or ``qtable``. A model runs on the robot's
    runtime choice without the probe (the staged bundle has no reference outputs yet): the first
    runtime that builds and invokes it in this process, or the forced one.
    """
    from robot.inference import choose_runtime, load_policy

    if kind == "qtable":
        policy = load_policy(bundle, "qtable")
    else:
        runtime = choose_runtime(bundle.path, kind, probe=False)
        policy = load_policy(bundle, POLICY_OF_KIND[kind], runtime)
    return np.stack([policy.decide(raw).q_values for raw in raw_states])


#: What ``parity.int8.tried`` keeps of a quantisation mode that missed its gate.
TRIED_KEYS = ("agreement", "max_abs_q_diff")


def add_model(
    content: Content,
    kind: str,
    tflite_bytes: bytes,
    mode: str | None,
    more: Mapping[str, Any] | None = None,
) -> None:
    """Put one TFLite model into the content (replacing one of the same kind); ``more``: further
    entries of its manifest entry (a refit's record)."""
    tensor_in, tensor_out = tensor_infos(tflite_bytes)
    content.files[MODEL_FILES[kind]] = tflite_bytes
    extra = {} if mode is None else {"quantization": mode}
    extra.update(more or {})
    content.models[kind] = ModelEntry(kind, MODEL_FILES[kind], tensor_in, tensor_out, extra)


def int8_fails(parity: Mapping[str, Any], results: Mapping[str, Any], returns: Any) -> bool:
    """Whether the int8 model misses both its agreement and its return bar."""
    passed_agreement = results["int8"].rate >= parity["thresholds"]["int8"]
    return not passed_agreement and not (returns.get("int8") or {}).get("passed", False)


def checked_content(
    run: RunDir,
    *,
    content: Content,
    options: ExportOptions,
    versions: Mapping[str, str],
    raw_states: np.ndarray,
    episodes: int,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """Stage the content and compare it with its reference: the parity section, each policy's
    Agreement, the int8 return check (run where int8 agreement is below its bar, and always for a
    model refitted on the rollout states, whose agreement there is in sample) and each policy's
    Q-values on the rollout states."""
    threshold = float(options.min_agreement.get("int8", MIN_AGREEMENT["int8"]))
    returns: dict[str, dict[str, Any]] = {}

    def gate_by_return(staged: Bundle, exported_q: Mapping[str, np.ndarray]) -> None:
        if "int8" not in content.models or content.keras_q is None or not options.return_episodes:
            return
        refitted = "refit" in content.models["int8"].extra
        agreed = agreement(content.keras_q, exported_q["int8"], options.tie_epsilon)
        if agreed.rate >= threshold and not refitted:
            return
        env = run.make_env(**options.env_overrides)
        try:
            returns["int8"] = return_check(env, staged, options.return_episodes)
        finally:
            env.close()

    exported_q = _staged_q_values(run, content, versions, raw_states, gate_by_return)
    if content.keras_q is not None:
        reference_q, reference_name = content.keras_q, "keras"
    else:  # a tabular run: the robot's Q-table lookup against the run's own table
        assert content.grid is not None  # _from_table refused a run without one
        table = run.load_qtable(options.checkpoint)
        reference_q, reference_name = table[content.grid.indices(raw_states)], "run_qtable"
    int8 = content.models.get("int8")
    parity, results = parity_report(
        reference_q,
        exported_q,
        reference=reference_name,
        states=len(raw_states),
        episodes=episodes,
        model_kinds=tuple(content.models),
        tie_epsilon=options.tie_epsilon,
        min_agreement=options.min_agreement,
        int8_quantum=None if int8 is None else int8.output.scale,
    )
    if int8 is not None:
        parity["int8"]["quantization"] = int8.extra["quantization"]
        if "refit" in int8.extra:
            parity["int8"]["agreement_in_sample"] = True
        if "int8" in returns:
            parity["int8"]["returns"] = returns["int8"]
        agreed = results["int8"].rate >= parity["thresholds"]["int8"]
        passed = agreed or bool(returns.get("int8", {}).get("passed"))
        parity["int8"]["gate"] = "agreement" if agreed else ("return" if passed else "failed")
    if content.distillation is not None:
        parity["qtable"].update(content.distillation)
    return parity, results, returns, exported_q


def _staged_q_values(
    run: RunDir,
    content: Content,
    versions: Mapping[str, str],
    raw_states: np.ndarray,
    then: Callable[[Bundle, Mapping[str, np.ndarray]], None],
) -> dict[str, np.ndarray]:
    """Stage the bundle, then each policy's Q-values through the robot's own policies on it;
    ``then(staged, q_values)`` runs while the staged bundle exists."""
    with tempfile.TemporaryDirectory(prefix="sim2pi-export-") as tmp:
        staged = write_bundle(
            Path(tmp) / "staged",
            spec=run.spec,
            files=content.files,
            models=content.models,
            discretizer=content.grid,
            qtable_file=content.qtable_file,
            versions=dict(versions),
        )
        exported_q = {kind: policy_q_values(staged, kind, raw_states) for kind in content.models}
        if content.qtable_file is not None:
            exported_q["qtable"] = policy_q_values(staged, "qtable", raw_states)
        then(staged, exported_q)
    return exported_q
