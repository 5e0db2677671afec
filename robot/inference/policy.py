"""Greedy policies: a raw observation (channel units) in, the action index and its Q-values out.

``TFLitePolicy`` runs the bundle's float32 or int8 model (input normalised by the spec; int8
quantised and dequantised with the manifest's scales); ``QTablePolicy`` looks the observation up
on the bundle's discretiser grid. ``load_policy`` checks that the interpreter's tensors are the
ones the manifest promises and refuses to start otherwise.
"""

from __future__ import annotations

import abc
import logging
from typing import Any

import numpy as np

from robot.errors import PolicyLoadError
from robot.inference.tflite_runtimes import TFLiteRuntime, choose_runtime
from shared.bundle import MANIFEST, Bundle, ModelEntry, TensorInfo
from shared.errors import BundleError, SpecError
from shared.spec import ObservationSpec

_log = logging.getLogger(__name__)

#: Config name of each policy → the bundle's model kind (None: the Q-table).
POLICY_KINDS = {"tflite": "float32", "tflite-int8": "int8", "qtable": None}


class Decision:
    """The greedy action index and the Q-value of every action (float32, one per action)."""

    __slots__ = ("_q_values", "action_index")

    def __init__(self, action_index: int, q_values: np.ndarray) -> None:
        self.action_index = action_index
        self._q_values = q_values

    @property
    def q_values(self) -> np.ndarray:
        """The Q-value of every action (float32, shape (n_actions,)); the caller's to keep."""
        return self._q_values

    def __repr__(self) -> str:
        return f"Decision(action_index={self.action_index}, q_values={self.q_values!r})"


class QuantizedDecision(Decision):
    """A Decision whose Q-values are dequantised from the int8 output on first access.

    The loop needs only the action on most ticks (the Q-values go to telemetry and the learner),
    and the action is the argmax of the raw codes since the output scale is positive.
    """

    __slots__ = ("_codes", "_dequantize")

    def __init__(self, action_index: int, codes: np.ndarray, dequantize: np.ndarray) -> None:
        self.action_index = action_index
        self._q_values = None  # type: ignore[assignment]
        self._codes = codes
        self._dequantize = dequantize

    @property
    def q_values(self) -> np.ndarray:
        """The dequantised Q-values (computed once: scale × (code − zero_point))."""
        if self._q_values is None:
            self._q_values = self._dequantize.take(self._codes.view(np.uint8))
        return self._q_values


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
    """A TFLite model (float32 or full-int8), fed from and read into preallocated arrays.

    ``decide`` costs a few microseconds, most of them Python calls, so it makes as few as it
    can: the input is built in a buffer this policy owns and copied in with ``set_tensor`` (the
    interpreter's own buffer may not be viewed across ``invoke()``, and a fresh view per call
    costs more than the copy); the output comes back with ``get_tensor``, a copy the decision
    may keep.
    """

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
        if runtime is None:  # none given: the first that runs the model in this process
            runtime = choose_runtime(bundle.path, kind, probe=False)
        self.runtime = runtime
        try:
            self.interpreter: Any = self.runtime.interpreter(model_path)
        except Exception as exc:  # a runtime's own: ValueError, RuntimeError; never a crash here
            raise PolicyLoadError(
                f"{model_path}: {runtime.describe()} cannot build an interpreter for it ({exc}); "
                "re-export the bundle (`python -m trainer export`) and copy it again"
            ) from None
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        where = f"{model_path}"
        _expect_count(inputs, "input", where)
        _expect_count(outputs, "output", where)
        _expect_tensor(inputs[0], self.entry.input, f"{where}: input tensor")
        _expect_tensor(outputs[0], self.entry.output, f"{where}: output tensor")
        spec = bundle.spec.observation
        self._size = spec.size
        self._names = spec.names
        self._channels = range(spec.size)
        self._normalize = spec.normalize
        info_in, info_out = self.entry.input, self.entry.output
        self._input_index = int(inputs[0]["index"])
        self._output_index = int(outputs[0]["index"])
        # Bound once: each attribute look-up on the interpreter is a dictionary probe per call.
        self._set_tensor = self.interpreter.set_tensor
        self._invoke = self.interpreter.invoke
        self._get_tensor = self.interpreter.get_tensor
        #: What ``set_tensor`` copies into the model's input, shape (1, n_channels).
        self._input = np.zeros(info_in.shape, dtype=info_in.dtype)
        self._affine = _affine_normalisation(spec) if info_in.dtype == "float32" else None
        if self._affine is not None:
            self._input_values = memoryview(self._input.reshape(-1))
        self._quantize: tuple[list[float], list[float], int, int] | None = None
        if info_in.dtype != "float32":
            self._quantize = _fused_quantisation(spec, info_in)
            # Python ints go into the int8 buffer through a memoryview: no numpy call per value.
            self._input_codes = memoryview(self._input.reshape(-1))
        self._quantized_out = info_out.dtype != "float32"
        self._codes_ordered = False
        # Dequantising is a table look-up: each of the 256 codes → scale × (code − zero_point).
        codes = np.arange(256, dtype=np.uint8)
        self._dequantize = np.zeros(256, dtype=np.float32)
        if self._quantized_out:
            real = codes.view(info_out.dtype).astype(np.float64) - (info_out.zero_point or 0)
            self._dequantize = (real * (info_out.scale or 1.0)).astype(np.float32)
            # With a positive scale the look-up keeps the codes' order and is one-to-one, so the
            # argmax of the codes is the argmax of the Q-values (ties included), and the
            # dequantising can wait until someone asks for the Q-values. Checked, not assumed.
            by_value = self._dequantize[codes[np.argsort(codes.view(info_out.dtype))]]
            self._codes_ordered = bool(np.all(np.diff(by_value) > 0))

    def decide(self, raw_observation: np.ndarray) -> Decision:
        """Normalise (and quantise), invoke, argmax (dequantising only when asked)."""
        if self._quantize is None:
            self._write_float_input(raw_observation)
        else:
            self._write_int8_input(raw_observation)
        self._set_tensor(self._input_index, self._input)
        self._invoke()
        out = self._get_tensor(self._output_index)[0]  # a copy: the decision may keep it
        if not self._quantized_out:
            return Decision(int(out.argmax()), out)
        if self._codes_ordered:
            return QuantizedDecision(int(out.argmax()), out, self._dequantize)
        q_values = self._dequantize.take(out.view(np.uint8))
        return Decision(int(q_values.argmax()), q_values)

    def _write_float_input(self, raw_observation: np.ndarray) -> None:
        """``spec.normalize(raw)`` into the input buffer, bit for bit, without a numpy call.

        Each step goes through the float32 buffer, so each is rounded to float32 as numpy's
        float32 arithmetic rounds it: ``x = f32(raw)``, ``d = f32(x − offset)``, ``f32(d × gain)``.
        (Python computes in float64 first; rounding a float64 sum or product of two float32
        numbers to float32 gives the correctly rounded float32 result, since 53 ≥ 2 × 24 + 2.)
        """
        if self._affine is None:
            self._input[0] = self._normalize(raw_observation)
            return
        offsets, gains = self._affine
        x = self._input_values
        try:
            for i, v, o, g in zip(
                self._channels, raw_observation.tolist(), offsets, gains, strict=True
            ):
                x[i] = v
                x[i] = x[i] - o
                x[i] = x[i] * g
        except TypeError:  # a 0-d array: one number
            raise SpecError(self._shape_message(raw_observation)) from None
        except (OverflowError, ValueError):
            # Beyond float32's range (numpy gives inf there), or not one value per channel:
            # normalize says what it makes of it.
            self._input[0] = self._normalize(raw_observation)

    def _write_int8_input(self, raw_observation: np.ndarray) -> None:
        """q = round(normalize(raw) / scale) + zero_point, saturated, into the input buffer.

        ``normalize`` is affine, so it is folded into one multiply-add per channel. Plain
        Python numbers: for a few channels a loop beats numpy's per-call overhead, and the
        chained comparison beats ``min``/``max`` calls.
        """
        gains, offsets, low, high = self._quantize  # type: ignore[misc]
        codes, raw = self._input_codes, raw_observation.tolist()
        try:
            for i, v, a, c in zip(self._channels, raw, gains, offsets, strict=True):
                q = round(v * a + c)
                codes[i] = q if low <= q <= high else (low if q < low else high)
        except TypeError:  # a 0-d array: one number
            raise SpecError(self._shape_message(raw_observation)) from None
        except ValueError as exc:
            if "zip()" not in str(exc):  # round(NaN) raises ValueError too: say so as it is
                raise
            raise SpecError(self._shape_message(raw_observation)) from None

    def _shape_message(self, raw_observation: np.ndarray) -> str:
        return (
            f"observation: expected {self._size} channels {self._names}, found an array of "
            f"shape {np.shape(raw_observation)}"
        )

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


def _affine_normalisation(spec: ObservationSpec) -> tuple[list[float], list[float]] | None:
    """float32 (offset, gain) per channel with ``normalize(raw) == (raw - offset) × gain``.

    The spec's own ``offset`` and ``gain``, checked bit for bit against ``spec.normalize`` on the
    channels' bounds, midpoints and values beyond them. None if they differ (a normalisation
    this policy does not know): ``decide`` then calls ``spec.normalize`` itself.
    """
    lows, highs = spec.lows, spec.highs
    offset, gain = spec.offset, spec.gain
    span = highs - lows
    probe = np.concatenate(
        [
            np.stack([lows, highs, (lows + highs) / 2.0, np.zeros_like(lows)]),
            np.linspace(lows - span, highs + span, 301),  # (not numpy.random: ~2 MiB RSS)
        ]
    ).astype(np.float32)
    if not np.array_equal((probe - offset) * gain, spec.normalize(probe)):
        _log.warning(
            "observation spec %s: normalize is not the affine map this policy knows; "
            "calling it on every decision instead (slower, same results)",
            spec.names,
        )
        return None
    return offset.tolist(), gain.tolist()


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
