"""Keras Q-network → TFLite bytes: float32, and the bundle's compact model in one of
``QUANTIZATIONS`` (post-training quantisation).

The route is ``model.export(dir, "tf_saved_model")`` + ``TFLiteConverter.from_saved_model``,
the one that works across Keras 3 versions. The input normalisation is **not** baked into the
graph: the model's input is ``spec.observation.normalize(raw)``, and the manifest says so.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from robot.inference import XNNPACK_NOISE, allocate_tensors
from shared.bundle import TensorInfo
from shared.quiet import filtered_stderr
from trainer.quiet import TF_NOISE

#: What TensorFlow's converter and the QuantizationDebugger print to fd 2 on every conversion.
CONVERTER_NOISE = TF_NOISE + XNNPACK_NOISE


def _convert(converter: Any) -> bytes:
    """``converter.convert()``, its known noise kept off the terminal unless ``--verbose``."""
    with filtered_stderr(CONVERTER_NOISE):
        return bytes(converter.convert())


#: Normalised states given to the int8 converter's calibration, at most.
CALIBRATION_STATES = 2_000

#: The compact model's quantisation modes, smallest first. ``full-int8``: int8 weights and
#: activations, int8 input and output (calibrated); ``float-output``: the same, but the last
#: layer (the Q-values) stays float32, and so do the input and output (TFLite's selective
#: quantisation); ``hidden-int8``: only the hidden layers between the first and the last Dense
#: layer in int8 (per-channel weights, calibrated on every rollout state), the first and last
#: float32, the last one refitted by least squares to the Keras Q-values on the int8 layers'
#: own outputs (``convert_hidden_int8``); ``float16``: float16 weights, computed in float32.
#: All four run on LiteRT and on tflite-runtime 2.14; the robot runs a model with int8 tensors
#: on the runtimes' built-in kernels, where both compute alike (``robot.inference``). TFLite's
#: dynamic-range and 16x8 modes were measured and left out: the first does not load in 2.14,
#: the second keeps no more of the policy and runs slower than float32
#: (docs/benchmarks/export.md).
QUANTIZATIONS = ("full-int8", "float-output", "hidden-int8", "float16")
#: What ``--int8-mode auto`` tries, in order, keeping the first whose gate holds. hidden-int8
#: passes on all six networks measured (docs/benchmarks/export.md: 3.3x smaller than float32);
#: float16 is the fallback (it passed on all six too, 2x smaller, float arithmetic).
AUTO_QUANTIZATIONS = ("hidden-int8", "float16")


def _saved_model(model: Any, directory: Path) -> Path:
    """Export ``model`` as a TensorFlow SavedModel under ``directory``."""
    path = directory / "saved_model"
    model.export(str(path), "tf_saved_model", verbose=False)
    return path


def convert_float32(model: Any) -> bytes:
    """The float32 TFLite flatbuffer of a Keras model."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="sim2pi-export-") as tmp:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(_saved_model(model, Path(tmp))))
        return _convert(converter)


def convert_int8(model: Any, calibration_inputs: np.ndarray) -> bytes:
    """The full-int8 TFLite flatbuffer (int8 input and output), calibrated on normalised states.

    Args:
        model: the Keras Q-network.
        calibration_inputs: normalised observations (N, n_channels) the policy actually visits.
    """
    import tensorflow as tf

    representative = _representative(calibration_inputs)
    with tempfile.TemporaryDirectory(prefix="sim2pi-export-") as tmp:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(_saved_model(model, Path(tmp))))
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        return _convert(converter)


def _representative(
    calibration_inputs: np.ndarray, limit: int | None = CALIBRATION_STATES
) -> Callable[[], Iterator[list[np.ndarray]]]:
    """The converter's representative dataset: at most ``limit`` normalised states (None: all),
    an even (deterministic) spread over the rollouts."""
    inputs = np.asarray(calibration_inputs, dtype=np.float32)
    if inputs.ndim != 2 or len(inputs) == 0:
        raise ValueError(f"calibration inputs: expected shape (N>0, n), found {inputs.shape}")
    if limit is not None and len(inputs) > limit:
        inputs = inputs[np.linspace(0, len(inputs) - 1, limit).astype(int)]

    def representative() -> Iterator[list[np.ndarray]]:
        for row in inputs:
            yield [row[None, :]]

    return representative


def convert_compact(model: Any, calibration_inputs: np.ndarray, mode: str) -> bytes:
    """The compact TFLite flatbuffer in ``mode`` (one of ``QUANTIZATIONS`` but ``hidden-int8``,
    which needs the Keras Q-values: ``convert_hidden_int8``)."""
    import tensorflow as tf

    if mode == "full-int8":
        return convert_int8(model, calibration_inputs)
    if mode == "hidden-int8":
        raise ValueError("hidden-int8: use convert_hidden_int8 (it refits on the Keras Q-values)")
    if mode not in QUANTIZATIONS:
        raise ValueError(f"quantisation: expected one of {QUANTIZATIONS}, found {mode!r}")
    if mode == "float16":
        with tempfile.TemporaryDirectory(prefix="sim2pi-export-") as tmp:
            path = _saved_model(model, Path(tmp))
            converter = tf.lite.TFLiteConverter.from_saved_model(str(path))
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
            return _convert(converter)
    float_layers = _dense_outputs(convert_float32(model))[-1:]
    return _selective_int8(model, _representative(calibration_inputs), float_layers)


def _selective_int8(
    model: Any, representative: Callable[[], Any], float_layers: list[str]
) -> bytes:
    """int8 (per-channel weights, float input and output) but the FULLY_CONNECTED layers whose
    outputs are named in ``float_layers`` (TFLite's ``QuantizationDebugger``)."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="sim2pi-export-") as tmp:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(_saved_model(model, Path(tmp))))
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=float_layers)
        # the debugger builds TensorFlow's deprecated interpreter, and prints while it converts
        with warnings.catch_warnings(), filtered_stderr(CONVERTER_NOISE):
            warnings.simplefilter("ignore", UserWarning)
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=representative, debug_options=options
            )
            return bytes(debugger.get_nondebug_quantized_model())


def convert_hidden_int8(
    model: Any, inputs: np.ndarray, keras_q: np.ndarray
) -> tuple[bytes, dict[str, Any]]:
    """The ``hidden-int8`` model and what its refit did (the manifest's ``refit`` entry).

    The first and last Dense layers stay float32, the ones between are int8 (per-channel
    weights, activations calibrated on every state of ``inputs``); then the last layer's weights
    and bias are refitted by least squares so that, fed with the int8 layers' own outputs on
    ``inputs`` (computed on the TFLite built-in kernels, as the robot runs the model), it gives
    ``keras_q``; and the model is converted again (the int8 layers come out the same: their
    calibration does not depend on the last layer). ``model`` is left as it was.

    Args:
        model: the Keras Q-network (at least three Dense layers).
        inputs: the normalised rollout states (N, n_channels).
        keras_q: the Keras model's Q-values on them (N, n_actions).
    """
    layers = _dense_outputs(convert_float32(model))
    if len(layers) < 3:
        raise ValueError(
            f"hidden-int8: the network has {len(layers)} Dense layers; it needs a hidden layer "
            "between the first and the last (use another --int8-mode)"
        )
    float_layers = [layers[0], layers[-1]]
    representative = _representative(inputs, limit=None)
    features = _last_layer_inputs(_selective_int8(model, representative, float_layers), inputs)
    design = np.hstack([features, np.ones((len(features), 1))])
    target = np.asarray(keras_q, dtype=np.float64)
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    last = model.layers[-1]
    before = [w.copy() for w in last.get_weights()]
    if len(before) != 2 or before[0].shape != solution[:-1].shape:
        raise ValueError("hidden-int8: the last layer is not a Dense layer with a bias")
    try:
        last.set_weights([solution[:-1].astype(np.float32), solution[-1].astype(np.float32)])
        content = _selective_int8(model, representative, float_layers)
    finally:
        last.set_weights(before)
    fitted = np.asarray(design @ solution)
    refit = {
        "layer": "last Dense layer (float32), least squares on the int8 layers' outputs",
        "states": len(inputs),
        "rms_q_error": float(np.sqrt(np.mean((fitted - target) ** 2))),
        "in_sample": (
            "the refit used the parity rollout states, so the agreement on them is in sample; "
            "the return gate (evaluation seeds) is the out-of-sample check"
        ),
    }
    return content, refit


def _last_layer_inputs(content: bytes, inputs: np.ndarray) -> np.ndarray:
    """What the last FULLY_CONNECTED layer of ``content`` receives (N, width) for each input
    row, on the built-in kernels (as the robot builds a quantised model's interpreter)."""
    interpreter = _interpreter(content, builtin_kernels=True, preserve_all_tensors=True)
    layers = [op for op in interpreter._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"]
    feature = int(layers[-1]["inputs"][0])
    source = interpreter.get_input_details()[0]["index"]
    rows = []
    for row in np.asarray(inputs, dtype=np.float32):
        interpreter.set_tensor(source, row[None, :])
        interpreter.invoke()
        rows.append(np.asarray(interpreter.get_tensor(feature), dtype=np.float64).reshape(-1))
    return np.stack(rows)


def _dense_outputs(float_model: bytes) -> list[str]:
    """The output tensor names of a float TFLite model's FULLY_CONNECTED layers, in order."""
    interpreter = _interpreter(float_model)
    layers = [op for op in interpreter._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"]
    if not layers:
        raise ValueError("selective quantisation: the model has no FULLY_CONNECTED layer")
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    return [str(names[int(op["outputs"][0])]) for op in layers]


def _interpreter(
    content: bytes, *, builtin_kernels: bool = False, preserve_all_tensors: bool = False
) -> Any:
    """An interpreter over ``content`` with tensors allocated (LiteRT, else TensorFlow's);
    ``builtin_kernels``: without the default (XNNPACK) delegate."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806
        OpResolverType = tf.lite.experimental.OpResolverType  # noqa: N806
    resolver = (
        OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES if builtin_kernels else OpResolverType.AUTO
    )
    interpreter = Interpreter(
        model_content=content,
        experimental_op_resolver_type=resolver,
        experimental_preserve_all_tensors=preserve_all_tensors,
    )
    allocate_tensors(interpreter)
    return interpreter


def _tensor_info(details: dict[str, Any]) -> TensorInfo:
    dtype = np.dtype(details["dtype"]).name
    shape = tuple(int(d) for d in details["shape"])
    if dtype == "float32":
        return TensorInfo(shape, dtype)
    scale, zero_point = details["quantization"]
    return TensorInfo(shape, dtype, float(scale), int(zero_point))


def tensor_infos(content: bytes) -> tuple[TensorInfo, TensorInfo]:
    """The (input, output) tensor shapes, dtypes and int8 scales, read from the model itself."""
    interpreter = _interpreter(content)
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"TFLite model: expected one input and one output tensor, found {len(inputs)} "
            f"and {len(outputs)}"
        )
    return _tensor_info(inputs[0]), _tensor_info(outputs[0])
