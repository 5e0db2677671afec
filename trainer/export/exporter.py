"""``export_run``: a trained run → a verified bundle, or nothing at all.

Steps: collect at least ``parity_states`` raw states from greedy rollouts of the run's policy;
convert the Keras network to TFLite (float32, optionally int8 calibrated on those states) and/or
build the Q-table; write a *staging* bundle in a temp directory and load each policy from it through
``robot.inference.policy`` — the robot's own code path; compare greedy actions and Q-values with the
Keras model (``parity``); only if every threshold holds, write the final bundle atomically with the
parity report and reference input/output pairs in its manifest.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shared.bundle import (
    MODEL_FILES,
    QTABLE_FILE,
    Bundle,
    ModelEntry,
    package_versions,
    write_bundle,
)
from shared.discretize import Discretizer
from trainer.errors import UsageError
from trainer.export import distill as distill_module
from trainer.export.parity import MIN_AGREEMENT, TIE_EPSILON, Agreement, agreement, check_thresholds
from trainer.export.rollouts import ROLLOUT_SEED_BASE, greedy_states
from trainer.export.tflite import convert_float32, convert_int8, tensor_infos
from trainer.rundir import RunDir

#: Raw states per model entry's ``reference`` block (the robot's tests replay them).
REFERENCE_STATES = 8
#: Robot policy name of each model kind (``robot.inference.policy.POLICY_KINDS`` inverted).
POLICY_OF_KIND = {"float32": "tflite", "int8": "tflite-int8"}


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


@dataclass(frozen=True)
class ExportResult:
    """The written bundle, its parity report and how long the export took."""

    bundle: Bundle
    parity: Mapping[str, Any]
    seconds: float


def _npy_bytes(table: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(table, dtype=np.float64))
    return buffer.getvalue()


def _validate(run: RunDir, out: Path, options: ExportOptions) -> None:
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


def _policy_q_values(bundle: Bundle, policy_name: str, raw_states: np.ndarray) -> np.ndarray:
    """Q-values (N, n_actions) of one bundle policy, run state by state exactly as on the robot."""
    from robot.inference.policy import load_policy

    policy = load_policy(bundle, policy_name)
    return np.stack([policy.decide(raw).q_values for raw in raw_states])


def _reference_indices(n_states: int) -> np.ndarray:
    """A deterministic spread of ``REFERENCE_STATES`` indices over the rollout states."""
    return np.unique(np.linspace(0, n_states - 1, min(REFERENCE_STATES, n_states)).astype(int))


def export_run(
    run_dir: str | Path,
    out: str | Path,
    options: ExportOptions | None = None,
    log: Callable[[str], None] = print,
) -> ExportResult:
    """Export a run's checkpoint to the bundle directory ``out``; raises before writing anything
    if a parity threshold is missed (``ParityError``) or the request is invalid (``UsageError``).
    """
    started = time.perf_counter()
    options = options or ExportOptions()
    run = RunDir(run_dir)
    out = Path(out)
    _validate(run, out, options)
    spec = run.spec
    grid: Discretizer | None = None
    if run.algo == "dqn" and options.qtable:  # a bad --bins/--bin-edges fails before the slow work
        grid = distill_module.grid_for(spec, options.bins, options.bin_edges)

    env = run.make_env()
    try:
        raw_states, episodes = greedy_states(
            env, run.greedy_policy(options.checkpoint), options.parity_states
        )
    finally:
        env.close()
    inputs = spec.observation.normalize(raw_states)
    log(f"collected {len(raw_states)} states from {episodes} greedy episodes of {run.env_id}")

    files: dict[str, bytes] = {}
    models: dict[str, ModelEntry] = {}
    distillation: dict[str, Any] | None = None
    keras_q: np.ndarray | None = None
    if run.algo == "dqn":
        model = run.load_keras_model(options.checkpoint)

        def network_q(batch: np.ndarray) -> np.ndarray:
            return np.asarray(model.predict(batch, batch_size=4096, verbose=0), dtype=np.float64)

        keras_q = network_q(inputs)
        converted = {"float32": convert_float32(model)}
        if options.int8:
            converted["int8"] = convert_int8(model, inputs)
        for kind, content in converted.items():
            tensor_in, tensor_out = tensor_infos(content)
            files[MODEL_FILES[kind]] = content
            models[kind] = ModelEntry(kind, MODEL_FILES[kind], tensor_in, tensor_out, {})
        if grid is not None:
            table, distillation = distill_module.distill(
                network_q, spec, grid, raw_states, keras_q, method=options.qtable_method
            )
            files[QTABLE_FILE] = _npy_bytes(table)
    else:
        grid = run.discretizer
        if grid is None:
            raise UsageError(f"{run.path}/discretizer.json: missing for a qlearning run")
        files[QTABLE_FILE] = _npy_bytes(run.load_qtable(options.checkpoint))
    qtable_file = QTABLE_FILE if QTABLE_FILE in files else None
    versions = package_versions("tensorflow", "tensorflow-cpu", "keras", "gymnasium")
    versions.update(package_versions("ai-edge-litert", "tflite-runtime"))
    if run.algo == "dqn":  # the converter's version, whichever distribution installed it
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__

    # Stage, then measure parity through the robot's own policies on the staged files.
    with tempfile.TemporaryDirectory(prefix="sim2pi-export-") as tmp:
        staged = write_bundle(
            Path(tmp) / "staged",
            spec=spec,
            files=files,
            models=models,
            discretizer=grid,
            qtable_file=qtable_file,
            versions=versions,
        )
        exported_q = {
            kind: _policy_q_values(staged, POLICY_OF_KIND[kind], raw_states) for kind in models
        }
        if qtable_file is not None:
            exported_q["qtable"] = _policy_q_values(staged, "qtable", raw_states)
    if keras_q is not None:
        reference_q, reference_name = keras_q, "keras"
    else:  # a tabular run: the robot's Q-table lookup against the run's own table
        table = run.load_qtable(options.checkpoint)
        reference_q, reference_name = table[grid.indices(raw_states)], "run_qtable"  # type: ignore[union-attr]
    results: dict[str, Agreement] = {
        kind: agreement(reference_q, q, options.tie_epsilon) for kind, q in exported_q.items()
    }
    thresholds = {k: float(options.min_agreement.get(k, MIN_AGREEMENT[k])) for k in models}
    parity: dict[str, Any] = {
        "reference": reference_name,
        "states": len(raw_states),
        "episodes": episodes,
        "rollout_seeds": [ROLLOUT_SEED_BASE, ROLLOUT_SEED_BASE + episodes - 1],
        "tie_epsilon": options.tie_epsilon,
        "thresholds": thresholds,
        "thresholds_lowered": any(thresholds[k] < MIN_AGREEMENT[k] for k in thresholds),
        **{kind: result.to_dict() for kind, result in results.items()},
    }
    if distillation is not None:
        parity["qtable"].update(distillation)
    if "int8" in models:  # how much of the int8 gap is below what its output can resolve
        quantum = float(models["int8"].output.scale or 0.0)
        parity["int8"]["output_quantum"] = quantum
        parity["int8"]["gap_of_at_least_one_quantum"] = agreement(
            reference_q, exported_q["int8"], options.tie_epsilon, min_gap=quantum
        ).to_dict()
    for line in parity_lines(parity):
        log(line)
    check_thresholds({k: v for k, v in results.items() if k in models}, thresholds)

    picks = _reference_indices(len(raw_states))
    for kind, entry in list(models.items()):
        models[kind] = ModelEntry(
            kind,
            entry.file,
            entry.input,
            entry.output,
            {
                "input_normalization": "spec",
                "source": f"{run.algo} checkpoint {options.checkpoint!r}",
                "reference": {
                    "observations": raw_states[picks].tolist(),
                    "inputs": inputs[picks].tolist(),
                    "outputs": exported_q[kind][picks].tolist(),
                },
            },
        )
    summary = run.summary if (run.path / "summary.json").is_file() else None
    run_versions = run.path / "versions.json"
    info = {
        "training": {
            "run_dir": str(run.path.resolve()),
            "algo": run.algo,
            "checkpoint": options.checkpoint,
            "seed": run.seed,
            "config": run.config,
            "versions": json.loads(run_versions.read_text()) if run_versions.is_file() else None,
        },
        "evaluation": summary,
        "parity": parity,
        "export": {
            "seconds": round(time.perf_counter() - started, 3),
            "int8": options.int8,
            "qtable": qtable_file is not None,
            "input_normalization": "spec: the model's input is spec.observation.normalize(raw)",
        },
    }
    bundle = write_bundle(
        out,
        spec=spec,
        files=files,
        models=models,
        discretizer=grid,
        qtable_file=qtable_file,
        info=info,
        versions=versions,
        overwrite=options.overwrite,
    )
    return ExportResult(bundle, parity, time.perf_counter() - started)


def parity_lines(parity: Mapping[str, Any]) -> list[str]:
    """The parity report as printable lines."""
    lines = [
        f"parity on {parity['states']} rollout states against {parity['reference']} "
        f"(tie: top-2 Q gap < {parity['tie_epsilon']:g})"
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
        if "gap_of_at_least_one_quantum" in r:
            wide = r["gap_of_at_least_one_quantum"]
            lines.append(
                f"           on the {wide['states']} states whose Keras top-2 gap is at least one "
                f"output quantum ({r['output_quantum']:.3g}): {wide['agreement']:.4%}"
            )
    return lines
