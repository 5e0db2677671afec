"""``train --init-from``: start a DQN run from a trained network instead of random weights.

The source is a bundle (its float32 TFLite model, the file the robot runs) or a run directory
(its ``checkpoints/last/model.keras``). Either way the network must be the one the new run
builds: the same observation channels and actions (the spec; the reward may differ, so that a
policy can be fine-tuned to a new reward), the same layer sizes, and, for a bundle, the same
activation, checked by playing the manifest's reference observations through the weights read
and comparing with the Q-values the bundle recorded for them. Anything else is one error that
names the file, what the run expects, what was found, and the fix.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import BundleError
from shared.spec import TaskSpec
from trainer.errors import UsageError

#: How far the weights read from a bundle may be from its recorded reference Q-values.
REFERENCE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class InitialWeights:
    """Weights in Keras ``get_weights()`` order (kernel, bias per layer) and where they came
    from, as config.json records it (``init_from``)."""

    weights: list[np.ndarray]
    record: dict[str, Any]


def initial_weights(
    init_from: Path | None, algo: str, spec: TaskSpec, config: Any
) -> InitialWeights | None:
    """The weights ``--init-from`` names for a run of ``algo`` with hyperparameters ``config``
    (its ``hidden_sizes`` and ``activation``), checked; None without ``--init-from``."""
    if init_from is None:
        return None
    if algo != "dqn":
        raise UsageError(
            f"--init-from {init_from}: a {algo} run has no network to start from; "
            "use it with --algo dqn"
        )
    hidden = tuple(config.hidden_sizes)
    return load_initial_weights(Path(init_from), spec, hidden, config.activation)


def load_initial_weights(
    path: Path, spec: TaskSpec, hidden_sizes: tuple[int, ...], activation: str
) -> InitialWeights:
    """The network in ``path`` (a bundle or a run directory) for a run of ``spec`` whose
    network is ``hidden_sizes`` with ``activation``."""
    if (path / "manifest.json").is_file():
        weights, record = _from_bundle(path, spec, activation)
    elif (path / "config.json").is_file():
        weights, record = _from_run(path, spec)
    else:
        raise UsageError(
            f"--init-from {path}: expected a bundle (a directory with manifest.json) or a run "
            "directory (with config.json), found neither; give the bundle `trainer export` wrote "
            "or the run `trainer train` wrote"
        )
    expected = _shapes(spec.observation.size, len(spec.actions), hidden_sizes)
    found = [tuple(w.shape) for w in weights]
    if found != expected:
        raise UsageError(
            f"--init-from {path}: the run builds layers {_layers(expected)}, the network there "
            f"has {_layers(found)}; give the run its layer sizes (--set hidden_sizes="
            f"{','.join(str(s[1]) for s in found[0:-2:2])})"
        )
    return InitialWeights(weights, {"path": str(path.resolve()), **record})


def _from_bundle(
    path: Path, spec: TaskSpec, activation: str
) -> tuple[list[np.ndarray], dict[str, Any]]:
    from shared.bundle import read_bundle

    try:
        bundle = read_bundle(path)
    except BundleError as e:
        raise UsageError(f"--init-from {path}: {e}") from None
    _check_spec(path / "manifest.json", bundle.spec, spec)
    entry = bundle.models.get("float32")
    if entry is None:
        raise UsageError(
            f"--init-from {path}: the bundle has no float32 model (models: "
            f"{', '.join(bundle.models) or 'none'}); export the run with its float32 model, or "
            "give the run directory instead"
        )
    model_file = bundle.file(entry.file)
    weights = _tflite_weights(model_file)
    _check_reference(model_file, weights, entry.extra.get("reference"), spec, activation)
    files = bundle.manifest.get("files") or {}
    sha = str((files.get(entry.file) or {}).get("sha256", ""))
    return weights, {"kind": "bundle", "model": entry.file, "sha256": sha}


def _from_run(path: Path, spec: TaskSpec) -> tuple[list[np.ndarray], dict[str, Any]]:
    import keras

    from trainer.rundir import RunDir

    run = RunDir(path)
    if run.algo != "dqn":
        raise UsageError(
            f"--init-from {path}: a {run.algo} run has no network; give a DQN run or a bundle"
        )
    _check_spec(path / "spec.json", run.spec, spec)
    model_file = run.checkpoint("last") / "model.keras"
    if not model_file.is_file():
        raise UsageError(
            f"--init-from {path}: {model_file} is missing; the run has not saved a checkpoint yet"
        )
    model = keras.models.load_model(model_file, compile=False)
    weights = [np.asarray(w, dtype=np.float32) for w in model.get_weights()]
    return weights, {"kind": "run", "model": str(model_file.relative_to(path))}


def _check_spec(where: Path, found: TaskSpec, expected: TaskSpec) -> None:
    """The observation channels and actions must be the run's; the env id and reward may not."""
    for part in ("observation", "actions"):
        if getattr(found, part) != getattr(expected, part):
            raise UsageError(
                f"--init-from {where}: its {part} differ from the run's ({expected.env_id}): "
                f"a network maps one observation to one set of actions; expected "
                f"{_describe(getattr(expected, part))}, found {_describe(getattr(found, part))}; "
                "fine-tune a policy of the same task"
            )


def _describe(part: Any) -> str:
    channels = getattr(part, "channels", None)
    if channels is not None:
        return "[" + ", ".join(f"{c.name} {c.low:g}..{c.high:g}" for c in channels) + "]"
    return "[" + ", ".join(a.name for a in part.actions) + "]"


def _tflite_weights(model_file: Path) -> list[np.ndarray]:
    """Kernel (in, out) and bias of each FULLY_CONNECTED layer of a float32 TFLite MLP."""
    from trainer.export.tflite import _interpreter

    interpreter = _interpreter(model_file.read_bytes(), builtin_kernels=True)
    ops = interpreter._get_ops_details()
    other = sorted({op["op_name"] for op in ops} - {"FULLY_CONNECTED"})
    if other:
        raise UsageError(
            f"--init-from {model_file}: expected a multilayer perceptron (FULLY_CONNECTED layers "
            f"only), found also {', '.join(other)}; give the run directory the model came from"
        )
    weights: list[np.ndarray] = []
    for op in ops:
        kernel_index, bias_index = (int(i) for i in op["inputs"][1:3])
        weights.append(np.asarray(interpreter.get_tensor(kernel_index), np.float32).T.copy())
        weights.append(np.asarray(interpreter.get_tensor(bias_index), np.float32).copy())
    return weights


def _check_reference(
    model_file: Path, weights: list[np.ndarray], reference: Any, spec: TaskSpec, activation: str
) -> None:
    """The weights with ``activation`` must give the bundle's reference Q-values."""
    from trainer.qnetwork import NumpyMLP

    if not isinstance(reference, dict) or "inputs" not in reference:
        raise UsageError(
            f"--init-from {model_file}: the manifest records no reference Q-values to check the "
            "network against; give the run directory the bundle was exported from"
        )
    inputs = np.asarray(reference["inputs"], dtype=np.float32)
    outputs = np.asarray(reference["outputs"], dtype=np.float32)
    found = NumpyMLP(weights, activation)(inputs.reshape(len(inputs), -1))
    error = float(np.max(np.abs(found - outputs.reshape(found.shape))))
    scale = max(1.0, float(np.max(np.abs(outputs))))
    if error > REFERENCE_TOLERANCE * scale:
        raise UsageError(
            f"--init-from {model_file}: with activation {activation!r} its weights give Q-values "
            f"{error:.3g} away from the bundle's reference ones (expected within "
            f"{REFERENCE_TOLERANCE * scale:.3g}); give the run the activation the bundle was "
            "trained with (--set activation=...)"
        )


def _shapes(obs_size: int, n_actions: int, hidden: tuple[int, ...]) -> list[tuple[int, ...]]:
    sizes = [obs_size, *hidden, n_actions]
    shapes: list[tuple[int, ...]] = []
    for n_in, n_out in itertools.pairwise(sizes):
        shapes += [(n_in, n_out), (n_out,)]
    return shapes


def _layers(shapes: list[tuple[int, ...]]) -> str:
    kernels = [s for s in shapes if len(s) == 2]
    return " → ".join([str(kernels[0][0]), *(str(k[1]) for k in kernels)]) if kernels else "none"
