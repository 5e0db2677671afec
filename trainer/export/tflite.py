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

from shared.bundle import TensorInfo

#: Normalised states given to the int8 converter's calibration, at most.
CALIBRATION_STATES = 2_000

#: The compact model's quantisation modes, smallest first. ``full-int8``: int8 weights and
#: activations, int8 input and output (calibrated); ``float-output``: the same, but the last
#: layer (the Q-values) stays float32, and so do the input and output (TFLite's selective
#: quantisation); ``float16``: float16 weights, computed in float32. All three run on LiteRT
#: and on tflite-runtime 2.14 (TFLite's dynamic-range and 16x8 modes were measured and left
#: out: the first does not load in 2.14, the second keeps no more of the policy and runs
#: slower than float32; docs/benchmarks/export.md).
QUANTIZATIONS = ("full-int8", "float-output", "float16")
#: What ``--int8-mode auto`` tries, in order, keeping the first whose gate holds. Measured on
#: the four shipped DQN presets (docs/benchmarks/export.md): float16 keeps the policy on all of
#: them; float-output (3.2× smaller than float32, faster) on 4 of 6 networks, but LiteRT's
#: default XNNPACK delegate rounds its int8 layers differently from tflite-runtime 2.14 (up to
#: 3.2 Q units), beyond the float tolerance of the robot's runtime probe, so it is left to
#: ``--int8-mode float-output``. Per-tensor weights, calibration on every rollout state, a
#: float first layer and a refitted float last layer were measured too: none passes on every
#: preset and computes alike in both runtimes as the robot builds interpreters today (one would
#: on the runtimes' built-in kernels; docs/benchmarks/export.md, "8-bit modes tried").
AUTO_QUANTIZATIONS = ("float16",)


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
        return bytes(converter.convert())


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
        return bytes(converter.convert())


def _representative(calibration_inputs: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    """The converter's representative dataset: at most ``CALIBRATION_STATES`` normalised states,
    an even (deterministic) spread over the rollouts."""
    inputs = np.asarray(calibration_inputs, dtype=np.float32)
    if inputs.ndim != 2 or len(inputs) == 0:
        raise ValueError(f"calibration inputs: expected shape (N>0, n), found {inputs.shape}")
    if len(inputs) > CALIBRATION_STATES:
        inputs = inputs[np.linspace(0, len(inputs) - 1, CALIBRATION_STATES).astype(int)]

    def representative() -> Iterator[list[np.ndarray]]:
        for row in inputs:
            yield [row[None, :]]

    return representative


def convert_compact(model: Any, calibration_inputs: np.ndarray, mode: str) -> bytes:
    """The compact TFLite flatbuffer in ``mode`` (one of ``QUANTIZATIONS``)."""
    import tensorflow as tf

    if mode == "full-int8":
        return convert_int8(model, calibration_inputs)
    if mode not in QUANTIZATIONS:
        raise ValueError(f"quantisation: expected one of {QUANTIZATIONS}, found {mode!r}")
    with tempfile.TemporaryDirectory(prefix="sim2pi-export-") as tmp:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(_saved_model(model, Path(tmp))))
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "float16":
            converter.target_spec.supported_types = [tf.float16]
            return bytes(converter.convert())
        representative = _representative(calibration_inputs)
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        options = tf.lite.experimental.QuantizationDebugOptions(
            denylisted_nodes=[_last_layer_output(convert_float32(model))]
        )
        with warnings.catch_warnings():  # the debugger builds TensorFlow's deprecated interpreter
            warnings.simplefilter("ignore", UserWarning)
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=representative, debug_options=options
            )
            return bytes(debugger.get_nondebug_quantized_model())


def _last_layer_output(float_model: bytes) -> str:
    """The name of the last FULLY_CONNECTED layer's output tensor in a float TFLite model."""
    interpreter = _interpreter(float_model)
    layers = [op for op in interpreter._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"]
    if not layers:
        raise ValueError("float-output quantisation: the model has no FULLY_CONNECTED layer")
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    return str(names[int(layers[-1]["outputs"][0])])


def _interpreter(content: bytes) -> Any:
    """An interpreter over ``content`` with tensors allocated (LiteRT, else TensorFlow's)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
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
