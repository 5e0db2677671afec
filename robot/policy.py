"""Greedy policies: a raw observation (channel units) in, the action index and its Q-values out.

``TFLitePolicy`` runs the bundle's float32 or int8 model (input normalised by the spec; int8
quantised and dequantised with the manifest's scales); ``QTablePolicy`` looks the observation up
on the bundle's discretiser grid. ``load_policy`` checks that the interpreter's tensors are the
ones the manifest promises and refuses to start otherwise.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot.errors import PolicyLoadError
from robot.tflite import TFLiteRuntime, select_runtime
from shared.bundle import MANIFEST, Bundle, ModelEntry, TensorInfo
from shared.errors import BundleError
from shared.spec import ObservationSpec

#: Config name of each policy → the bundle's model kind (None: the Q-table).
POLICY_KINDS = {"tflite": "float32", "tflite-int8": "int8", "qtable": None}


@dataclass(frozen=True)
class Decision:
    """The greedy action index and the Q-value of every action (float32)."""

    action_index: int
    q_values: np.ndarray


class Policy(abc.ABC):
    """Maps one raw observation (shape (n_channels,), channel units) to a Decision."""

    #: The config name: ``tflite``, ``tflite-int8`` or ``qtable``.
    name: str = ""

    @abc.abstractmethod
    def decide(self, raw_observation: np.ndarray) -> Decision:
        """The greedy decision for one observation."""

    def describe(self) -> str:
        """One line for logs and ``robot check``."""
        return self.name


class TFLitePolicy(Policy):
    """A TFLite model (float32 or full-int8) with preallocated input and output arrays."""

    def __init__(self, bundle: Bundle, kind: str, runtime: TFLiteRuntime | None = None) -> None:
        if kind not in bundle.models:
            raise PolicyLoadError(
                f"{bundle.path / MANIFEST}: no {kind!r} model in this bundle "
                f"(it has {sorted(bundle.models) or 'none'}); choose another policy in "
                "[bundle] or export the bundle with that model"
            )
        self.entry: ModelEntry = bundle.models[kind]
        self.name = "tflite" if kind == "float32" else "tflite-int8"
        model_path = bundle.file(self.entry.file)
        self.runtime = runtime if runtime is not None else select_runtime(model_path)
        self.interpreter: Any = self.runtime.interpreter(model_path)
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        where = f"{model_path}"
        _expect_count(inputs, "input", where)
        _expect_count(outputs, "output", where)
        _expect_tensor(inputs[0], self.entry.input, f"{where}: input tensor")
        _expect_tensor(outputs[0], self.entry.output, f"{where}: output tensor")
        self._normalize = bundle.spec.observation.normalize
        # Tensor views: writing the input and reading the output in place skips two copies.
        # (A view must not be kept across invoke(), so each call asks for a fresh one.)
        self._input_tensor = self.interpreter.tensor(inputs[0]["index"])
        self._output_tensor = self.interpreter.tensor(outputs[0]["index"])
        info_in, info_out = self.entry.input, self.entry.output
        self._quantized_out = info_out.dtype != "float32"
        # Dequantising is a table look-up: each of the 256 codes → scale × (code − zero_point).
        codes = np.arange(256, dtype=np.uint8)
        if self._quantized_out:
            real = codes.view(info_out.dtype).astype(np.float64) - (info_out.zero_point or 0)
            self._dequantize = (real * (info_out.scale or 1.0)).astype(np.float32)
        self._quantize: tuple[list[float], list[float], int, int] | None = None
        if info_in.dtype != "float32":
            self._quantize = _fused_quantisation(bundle.spec.observation, info_in)

    def decide(self, raw_observation: np.ndarray) -> Decision:
        """Normalise (and quantise), invoke, (dequantise,) argmax."""
        if self._quantize is None:
            self._input_tensor()[0] = self._normalize(raw_observation)
        else:
            # q = round(normalize(raw) / scale) + zero_point, saturated; normalize is affine, so
            # it is folded into one multiply-add per channel. Plain Python numbers: for a few
            # channels a list comprehension beats numpy's per-call overhead.
            gains, offsets, low, high = self._quantize
            self._input_tensor()[0] = [
                min(high, max(low, round(v * a + c)))
                for v, a, c in zip(raw_observation.tolist(), gains, offsets, strict=True)
            ]
        self.interpreter.invoke()
        out = self._output_tensor()[0]
        q_values = self._dequantize[out.view(np.uint8)] if self._quantized_out else out.copy()
        return Decision(int(q_values.argmax()), q_values)

    def describe(self) -> str:
        """Model file, tensors and the runtime."""
        e = self.entry
        return (
            f"{self.name}: {e.file} input {list(e.input.shape)} {e.input.dtype}, output "
            f"{list(e.output.shape)} {e.output.dtype} on {self.runtime.describe()}"
        )


class QTablePolicy(Policy):
    """Greedy over the bundle's Q-table, indexed by the bundle's discretiser."""

    name = "qtable"

    def __init__(self, bundle: Bundle, qtable: np.ndarray | None = None) -> None:
        if bundle.discretizer is None or bundle.qtable_file is None:
            raise PolicyLoadError(
                f"{bundle.path / MANIFEST}: this bundle has no Q-table; choose policy = "
                "'tflite' in [bundle] or export the bundle with a Q-table"
            )
        self.discretizer = bundle.discretizer
        try:
            table = bundle.load_qtable() if qtable is None else qtable
        except BundleError as exc:
            raise PolicyLoadError(str(exc)) from None
        expected = (self.discretizer.n_states, len(bundle.spec.actions))
        if table.shape != expected:
            raise PolicyLoadError(
                f"{bundle.file(bundle.qtable_file)}: Q-table shape: expected {expected} "
                f"(states × actions), found {table.shape}; re-export the bundle"
            )
        #: The live table (float32 copy); the learner may update it in place.
        self.qtable = np.asarray(table, dtype=np.float32).copy()

    def decide(self, raw_observation: np.ndarray) -> Decision:
        """Discretise, look up, argmax."""
        row = self.qtable[self.discretizer.index(raw_observation)]
        return Decision(int(row.argmax()), row.copy())

    def describe(self) -> str:
        """Grid and table size."""
        return f"qtable: {self.discretizer.n_bins} bins, {self.qtable.shape} table"


def load_policy(bundle: Bundle, policy: str, runtime: TFLiteRuntime | None = None) -> Policy:
    """The policy called ``policy`` (``tflite``, ``tflite-int8``, ``qtable``) from ``bundle``."""
    if policy not in POLICY_KINDS:
        raise PolicyLoadError(f"policy {policy!r}: expected one of {list(POLICY_KINDS)}")
    kind = POLICY_KINDS[policy]
    if kind is None:
        return QTablePolicy(bundle)
    return TFLitePolicy(bundle, kind, runtime)


def available_policies(bundle: Bundle) -> list[str]:
    """The policy names this bundle can run."""
    names = [name for name, kind in POLICY_KINDS.items() if kind in bundle.models]
    if bundle.qtable_file is not None:
        names.append("qtable")
    return names


def _fused_quantisation(
    spec: ObservationSpec, info: TensorInfo
) -> tuple[list[float], list[float], int, int]:
    """Per channel (gain, offset) with ``q = round(raw × gain + offset)``, and the int limits.

    Derived from ``spec.normalize`` itself (its value at 0 and 1 per channel), and checked
    against it on the channels' bounds and midpoints, so the robot quantises exactly what the
    trainer normalised.
    """
    assert info.scale is not None and info.zero_point is not None
    zeros = np.zeros(spec.size, dtype=np.float32)
    offset = spec.normalize(zeros).astype(np.float64)
    gain = spec.normalize(zeros + 1.0).astype(np.float64) - offset
    probe = np.stack([spec.lows, spec.highs, (spec.lows + spec.highs) / 2.0])
    if not np.allclose(probe * gain + offset, spec.normalize(probe), rtol=1e-5, atol=1e-5):
        raise PolicyLoadError(
            f"observation spec {spec.names}: its normalisation is not affine per channel, "
            "which the int8 input quantisation assumes"
        )
    limits = np.iinfo(info.dtype)
    return (
        (gain / info.scale).tolist(),
        (offset / info.scale + info.zero_point).tolist(),
        int(limits.min),
        int(limits.max),
    )


def _expect_count(details: list[dict[str, Any]], what: str, where: str) -> None:
    if len(details) != 1:
        raise PolicyLoadError(
            f"{where}: expected exactly one {what} tensor, found {len(details)}; "
            "re-export the bundle with `python -m trainer export`"
        )


def _expect_tensor(details: dict[str, Any], info: TensorInfo, where: str) -> None:
    """Raise PolicyLoadError unless the interpreter's tensor matches the manifest's entry."""
    found_shape = tuple(int(d) for d in details["shape"])
    found_dtype = np.dtype(details["dtype"]).name
    problems = []
    if found_shape != info.shape:
        problems.append(f"shape: manifest says {list(info.shape)}, model has {list(found_shape)}")
    if found_dtype != info.dtype:
        problems.append(f"dtype: manifest says {info.dtype}, model has {found_dtype}")
    if not problems and info.scale is not None:
        scale, zero_point = details.get("quantization", (0.0, 0))
        if not np.isclose(scale, info.scale, rtol=1e-6) or zero_point != info.zero_point:
            problems.append(
                f"quantisation: manifest says scale={info.scale}, zero_point={info.zero_point}; "
                f"model has scale={scale}, zero_point={zero_point}"
            )
    if problems:
        raise PolicyLoadError(
            f"{where}: {'; '.join(problems)}; the manifest does not describe this model — "
            "re-export the bundle"
        )
