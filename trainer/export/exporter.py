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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.bundle import QTABLE_FILE, Bundle, ModelEntry, package_versions, write_bundle
from shared.discretize import Discretizer
from trainer.errors import UsageError
from trainer.export import distill as distill_module
from trainer.export.options import ExportOptions, eval_env, validate
from trainer.export.parity import check_thresholds, parity_lines
from trainer.export.rollouts import greedy_states
from trainer.export.staging import (
    POLICY_OF_KIND,
    TRIED_KEYS,
    Content,
    add_model,
    checked_content,
    int8_fails,
)
from trainer.export.tflite import (
    AUTO_QUANTIZATIONS,
    convert_compact,
    convert_float32,
    convert_hidden_int8,
)
from trainer.rundir import RunDir

#: Raw states per model entry's ``reference`` block (the robot's tests replay them).
REFERENCE_STATES = 8
__all__ = ["POLICY_OF_KIND", "ExportOptions", "ExportResult", "export_run"]


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

    env = run.make_env(**options.env_overrides)
    try:
        raw_states, episodes = greedy_states(
            env, run.greedy_policy(options.checkpoint), options.parity_states
        )
    finally:
        env.close()
    inputs = run.spec.observation.normalize(raw_states)
    if grid is not None and options.auto_bins:
        grid = distill_module.auto_grid(run.spec, raw_states, grid)
    log(f"collected {len(raw_states)} states from {episodes} greedy episodes of {run.env_id}")

    model = None
    if run.algo == "dqn":
        model = run.load_keras_model(options.checkpoint)
        content = _from_network(
            model, run.spec, options=options, grid=grid, raw_states=raw_states, inputs=inputs
        )
    else:
        content = _from_table(run, options)
    versions = _versions(run)
    modes: tuple[str | None, ...] = (None,)
    if options.int8:
        auto = options.int8_mode == "auto"
        modes = AUTO_QUANTIZATIONS if auto else (options.int8_mode,)
        modes = _applicable(modes, model, run, auto=auto, log=log)
    tried: list[dict[str, Any]] = []
    for n, mode in enumerate(modes, start=1):
        if mode is not None:
            _add_compact(content, model, inputs, mode)
        checked = checked_content(
            run,
            content=content,
            options=options,
            versions=versions,
            raw_states=raw_states,
            episodes=episodes,
        )
        parity, results, returns, exported_q = checked
        if mode is None or not int8_fails(parity, results, returns) or n == len(modes):
            break
        int8 = parity["int8"]
        tried.append({"quantization": mode, "returns": int8.get("returns")})
        tried[-1].update({k: int8[k] for k in TRIED_KEYS})
        log(f"int8 mode {mode} misses its gate ({_missed(int8)}); trying {modes[n]}")
    if tried:
        parity["int8"]["tried"] = tried
    for line in parity_lines(parity):
        log(line)
    check_thresholds(
        {k: v for k, v in results.items() if k in content.models}, parity["thresholds"], returns
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


def _applicable(
    modes: tuple[str | None, ...],
    model: Any,
    run: RunDir,
    *,
    auto: bool,
    log: Callable[[str], None],
) -> tuple[str | None, ...]:
    """``modes`` without hidden-int8 where the network has no hidden layer between its first
    and last Dense layer (one hidden layer): ``auto`` goes on to the next mode, an explicit
    ``--int8-mode hidden-int8`` is a usage error."""
    import keras

    dense = sum(isinstance(layer, keras.layers.Dense) for layer in model.layers)
    if "hidden-int8" not in modes or dense >= 3:
        return modes
    if not auto:
        raise UsageError(
            f"--int8-mode hidden-int8: the network of {run.path} has {dense} Dense layers, and "
            "hidden-int8 quantises the layers between the first and the last (train with two "
            "or more hidden_sizes); use --int8-mode float16, float-output or full-int8"
        )
    log(f"int8 mode hidden-int8 does not apply to {dense} Dense layers; trying the next mode")
    return tuple(m for m in modes if m != "hidden-int8")


def _add_compact(content: Content, model: Any, inputs: np.ndarray, mode: str) -> None:
    """The compact model in ``mode`` into the content (hidden-int8 with its refit's record)."""
    if mode == "hidden-int8":
        assert content.keras_q is not None  # a DQN run: validate refused --int8 otherwise
        tflite_bytes, refit = convert_hidden_int8(model, inputs, content.keras_q)
        add_model(content, "int8", tflite_bytes, mode, {"refit": refit})
    else:
        add_model(content, "int8", convert_compact(model, inputs, mode), mode)


def _missed(int8: Mapping[str, Any]) -> str:
    """How an int8 model missed its gate, in a few words."""
    text = f"agreement {int8['agreement']:.2%}"
    ret = int8.get("returns")
    if ret is not None:
        text += (
            f", return {ret['int8_mean']:.2f} against float32's {ret['float32_mean']:.2f}, "
            f"required {ret['required']:.2f}"
        )
    return text


def _from_network(
    model: Any,
    spec: Any,
    *,
    options: ExportOptions,
    grid: Discretizer | None,
    raw_states: np.ndarray,
    inputs: np.ndarray,
) -> Content:
    """A DQN run: the TFLite float32 model and the distilled Q-table on ``grid`` (the int8
    model is added by ``export_run``, one quantisation mode at a time)."""

    def network_q(batch: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(batch, batch_size=4096, verbose=0), dtype=np.float64)

    content = Content(grid=grid, keras_q=network_q(inputs))
    add_model(content, "float32", convert_float32(model), None)
    if grid is not None:
        table, content.distillation = distill_module.distill(
            network_q, spec, grid, raw_states, content.keras_q, method=options.qtable_method
        )
        content.files[QTABLE_FILE] = _npy_bytes(table)
    return content


def _from_table(run: RunDir, options: ExportOptions) -> Content:
    """A tabular run: its Q-table on the grid it was trained on."""
    if run.discretizer is None:
        raise UsageError(f"{run.path}/discretizer.json: missing for a qlearning run")
    content = Content(grid=run.discretizer)
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
                **entry.extra,
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
    content: Content,
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
            "int8_mode": options.int8_mode if options.int8 else None,
            "qtable": content.qtable_file is not None,
            "input_normalization": "spec: the model's input is spec.observation.normalize(raw)",
            "eval_env": eval_env(run, options),
        },
    }
