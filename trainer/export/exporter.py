"""``export_run``: a trained run → a verified bundle, or nothing at all.

Steps: collect at least ``parity_states`` raw states from greedy rollouts of the run's policy;
convert the Keras network to TFLite (float32, optionally int8 calibrated on those states) and/or
build the Q-table; write a *staging* bundle in a temp directory and load each policy from it
through ``robot.inference`` — the robot's own code path and runtime choice; compare greedy actions
and Q-values with the Keras model (``parity``); only if every threshold holds, write the final
bundle atomically with the parity report and reference input/output pairs in its manifest.
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
from trainer.export.options import ExportOptions, validate
from trainer.export.parity import check_thresholds, parity_lines, parity_report
from trainer.export.rollouts import greedy_states
from trainer.export.tflite import convert_float32, convert_int8, tensor_infos
from trainer.rundir import RunDir

#: Raw states per model entry's ``reference`` block (the robot's tests replay them).
REFERENCE_STATES = 8
#: Robot policy name of each model kind (the robot's ``POLICY_KINDS`` inverted).
POLICY_OF_KIND = {"float32": "tflite", "int8": "tflite-int8"}


@dataclass(frozen=True)
class ExportResult:
    """The written bundle, its parity report and how long the export took."""

    bundle: Bundle
    parity: Mapping[str, Any]
    seconds: float


@dataclass
class _Content:
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


def _npy_bytes(table: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(table, dtype=np.float64))
    return buffer.getvalue()


def _policy_q_values(bundle: Bundle, kind: str, raw_states: np.ndarray) -> np.ndarray:
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
    validate(run, out, options)
    grid: Discretizer | None = None
    if run.algo == "dqn" and options.qtable:  # a bad --bins/--bin-edges fails before the slow work
        grid = distill_module.grid_for(run.spec, options.bins, options.bin_edges)

    env = run.make_env()
    try:
        raw_states, episodes = greedy_states(
            env, run.greedy_policy(options.checkpoint), options.parity_states
        )
    finally:
        env.close()
    inputs = run.spec.observation.normalize(raw_states)
    log(f"collected {len(raw_states)} states from {episodes} greedy episodes of {run.env_id}")

    if run.algo == "dqn":
        content = _from_network(run, options, grid, raw_states, inputs)
    else:
        content = _from_table(run, options)
    versions = _versions(run)
    exported_q = _staged_q_values(run, content, versions, raw_states)
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
        int8_quantum=None if int8 is None else float(int8.output.scale or 0.0),
    )
    if content.distillation is not None:
        parity["qtable"].update(content.distillation)
    for line in parity_lines(parity):
        log(line)
    check_thresholds(
        {k: v for k, v in results.items() if k in content.models}, parity["thresholds"]
    )

    models = _with_references(
        content.models,
        run=run,
        options=options,
        raw_states=raw_states,
        inputs=inputs,
        exported_q=exported_q,
    )
    bundle = write_bundle(
        out,
        spec=run.spec,
        files=content.files,
        models=models,
        discretizer=content.grid,
        qtable_file=content.qtable_file,
        info=_bundle_info(run, options, parity, content, started),
        versions=versions,
        overwrite=options.overwrite,
    )
    return ExportResult(bundle, parity, time.perf_counter() - started)


def _from_network(
    run: RunDir,
    options: ExportOptions,
    grid: Discretizer | None,
    raw_states: np.ndarray,
    inputs: np.ndarray,
) -> _Content:
    """A DQN run: TFLite float32 (and int8) models, and the distilled Q-table on ``grid``."""
    model = run.load_keras_model(options.checkpoint)

    def network_q(batch: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(batch, batch_size=4096, verbose=0), dtype=np.float64)

    content = _Content(grid=grid, keras_q=network_q(inputs))
    converted = {"float32": convert_float32(model)}
    if options.int8:
        converted["int8"] = convert_int8(model, inputs)
    for kind, tflite_bytes in converted.items():
        tensor_in, tensor_out = tensor_infos(tflite_bytes)
        content.files[MODEL_FILES[kind]] = tflite_bytes
        content.models[kind] = ModelEntry(kind, MODEL_FILES[kind], tensor_in, tensor_out, {})
    if grid is not None:
        table, content.distillation = distill_module.distill(
            network_q, run.spec, grid, raw_states, content.keras_q, method=options.qtable_method
        )
        content.files[QTABLE_FILE] = _npy_bytes(table)
    return content


def _from_table(run: RunDir, options: ExportOptions) -> _Content:
    """A tabular run: its Q-table on the grid it was trained on."""
    if run.discretizer is None:
        raise UsageError(f"{run.path}/discretizer.json: missing for a qlearning run")
    content = _Content(grid=run.discretizer)
    content.files[QTABLE_FILE] = _npy_bytes(run.load_qtable(options.checkpoint))
    return content


def _versions(run: RunDir) -> dict[str, str]:
    """The versions the manifest records: the trainer's packages and the TFLite runtimes."""
    versions = package_versions("tensorflow", "tensorflow-cpu", "keras", "gymnasium")
    versions.update(package_versions("ai-edge-litert", "tflite-runtime"))
    if run.algo == "dqn":  # the converter's version, whichever distribution installed it
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    return versions


def _staged_q_values(
    run: RunDir, content: _Content, versions: Mapping[str, str], raw_states: np.ndarray
) -> dict[str, np.ndarray]:
    """Stage the bundle, then each policy's Q-values through the robot's own policies on it."""
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
        exported_q = {kind: _policy_q_values(staged, kind, raw_states) for kind in content.models}
        if content.qtable_file is not None:
            exported_q["qtable"] = _policy_q_values(staged, "qtable", raw_states)
    return exported_q


def _with_references(
    models: Mapping[str, ModelEntry],
    *,
    run: RunDir,
    options: ExportOptions,
    raw_states: np.ndarray,
    inputs: np.ndarray,
    exported_q: Mapping[str, np.ndarray],
) -> dict[str, ModelEntry]:
    """The model entries with their source and reference observations, inputs and outputs."""
    picks = _reference_indices(len(raw_states))
    return {
        kind: ModelEntry(
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
        for kind, entry in models.items()
    }


def _bundle_info(
    run: RunDir,
    options: ExportOptions,
    parity: Mapping[str, Any],
    content: _Content,
    started: float,
) -> dict[str, Any]:
    """The manifest's training, evaluation, parity and export sections."""
    summary = run.summary if (run.path / "summary.json").is_file() else None
    run_versions = run.path / "versions.json"
    return {
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
            "qtable": content.qtable_file is not None,
            "input_normalization": "spec: the model's input is spec.observation.normalize(raw)",
        },
    }
