"""Greedy policies on the committed fixture bundle, with a real TFLite interpreter."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from robot.errors import PolicyLoadError
from robot.inference.policy import (
    Decision,
    QTablePolicy,
    TFLitePolicy,
    available_policies,
    load_policy,
)
from robot.inference.tflite_runtimes import choose_runtime
from shared.bundle import MODEL_FILES, Bundle, ModelEntry, read_bundle, write_bundle
from shared.errors import SpecError

# Actions of the reference robot, by index.
FORWARD, VEER_LEFT, VEER_RIGHT, SPIN_LEFT, SPIN_RIGHT = range(5)


@pytest.mark.parametrize(
    ("policy", "kind", "atol"), [("tflite", "float32", 1e-5), ("tflite-int8", "int8", None)]
)
def test_tflite_policy_reproduces_the_reference_outputs(
    bundle: Bundle, policy: str, kind: str, atol: float | None
) -> None:
    chosen = load_policy(bundle, policy)
    assert isinstance(chosen, TFLitePolicy)
    entry = bundle.models[kind]
    reference = entry.extra["reference"]
    # int8: one output quantum is the tolerance (another runtime may round a half differently).
    tolerance = atol if atol is not None else entry.output.scale * 1.01
    for observation, expected in zip(reference["observations"], reference["outputs"], strict=True):
        decision = chosen.decide(np.array(observation, dtype=np.float32))
        assert isinstance(decision, Decision)
        assert decision.q_values.dtype == np.float32
        assert decision.q_values.shape == (5,)
        np.testing.assert_allclose(decision.q_values, expected, atol=tolerance)
        assert decision.action_index == int(np.argmax(expected))


@pytest.mark.parametrize("policy", ["tflite", "tflite-int8", "qtable"])
@pytest.mark.parametrize(
    ("ranges_m", "action"),
    [
        ((2.0, 2.0, 2.0), FORWARD),
        ((1.5, 0.2, 0.5), SPIN_LEFT),
        ((0.5, 0.2, 1.5), SPIN_RIGHT),
        ((0.15, 1.8, 1.8), VEER_RIGHT),
        ((1.8, 1.8, 0.15), VEER_LEFT),
    ],
)
def test_every_policy_avoids_obstacles(
    bundle: Bundle, policy: str, ranges_m: tuple[float, ...], action: int
) -> None:
    decision = load_policy(bundle, policy).decide(np.array(ranges_m, dtype=np.float32))
    assert decision.action_index == action


def test_qtable_policy_is_the_argmax_of_the_table_row(bundle: Bundle) -> None:
    policy = load_policy(bundle, "qtable")
    assert isinstance(policy, QTablePolicy)
    table = bundle.load_qtable()
    rng = np.random.default_rng(0)
    for raw in rng.uniform(0.02, 2.0, size=(50, 3)):
        decision = policy.decide(raw)
        row = table[bundle.discretizer.index(raw)]  # type: ignore[union-attr]
        np.testing.assert_allclose(decision.q_values, row, rtol=1e-6)
        assert decision.action_index == int(np.argmax(row))


def test_qtable_decision_does_not_alias_the_table(bundle: Bundle) -> None:
    policy = QTablePolicy(bundle)
    decision = policy.decide(np.array([1.0, 1.0, 1.0]))
    decision.q_values[:] = 99.0
    assert not np.any(policy.qtable == 99.0)


def test_available_policies(bundle: Bundle) -> None:
    assert available_policies(bundle) == ["tflite", "tflite-int8", "qtable"]


def copy_bundle_with(tmp_path: Path, bundle: Bundle, models: dict[str, ModelEntry]) -> Bundle:
    files = {name: bundle.file(name) for name in bundle.manifest["files"]}
    return write_bundle(
        tmp_path / "bundle",
        spec=bundle.spec,
        files=files,
        models=models,
        discretizer=bundle.discretizer,
        qtable_file=bundle.qtable_file,
    )


@pytest.mark.tflite
def test_a_manifest_that_misdescribes_the_model_is_refused(tmp_path: Path, bundle: Bundle) -> None:
    # The manifest claims the int8 file is the float32 model: dtypes differ.
    int8 = bundle.models["int8"]
    lying = ModelEntry(
        "float32", int8.file, bundle.models["float32"].input, bundle.models["float32"].output, {}
    )
    broken = copy_bundle_with(tmp_path, bundle, {"float32": lying})
    with pytest.raises(PolicyLoadError) as info:
        load_policy(broken, "tflite")
    message = str(info.value)
    assert (
        "policy_int8.tflite: input tensor: dtype: manifest says float32, model has int8" in message
    )
    assert "re-export the bundle" in message


@pytest.mark.tflite
def test_wrong_quantisation_scale_is_refused(tmp_path: Path, bundle: Bundle) -> None:
    int8 = bundle.models["int8"]
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    target = tmp_path / "bundle"
    shutil.copytree(bundle.path, target)
    manifest["models"]["int8"]["input"]["scale"] = int8.input.scale * 2  # type: ignore[operator]
    (target / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PolicyLoadError, match="quantisation: manifest says scale="):
        load_policy(read_bundle(target), "tflite-int8")


def test_missing_model_kind_names_what_the_bundle_has(tmp_path: Path, bundle: Bundle) -> None:
    only_float = copy_bundle_with(tmp_path, bundle, {"float32": bundle.models["float32"]})
    with pytest.raises(
        PolicyLoadError, match=r"no 'int8' model in this bundle \(it has \['float32'\]\)"
    ):
        load_policy(only_float, "tflite-int8")


def test_bundle_without_a_qtable(tmp_path: Path, bundle: Bundle) -> None:
    files = {name: bundle.file(name) for name in MODEL_FILES.values()}
    no_table = write_bundle(
        tmp_path / "b", spec=bundle.spec, files=files, models=dict(bundle.models)
    )
    with pytest.raises(PolicyLoadError, match="this bundle has no Q-table"):
        load_policy(no_table, "qtable")
    assert available_policies(no_table) == ["tflite", "tflite-int8"]


def test_int8_input_quantisation_matches_normalise_then_quantise(bundle: Bundle) -> None:
    from robot.inference.policy import _fused_quantisation

    info = bundle.models["int8"].input
    gains, offsets, low, high = _fused_quantisation(bundle.spec.observation, info)
    rng = np.random.default_rng(1)
    raw = rng.uniform(-0.5, 2.5, size=(1000, 3)).astype(np.float32)  # beyond the range too
    expected = np.clip(
        np.round(bundle.spec.observation.normalize(raw) / info.scale) + info.zero_point, low, high
    )
    fused = np.array(
        [
            [
                min(high, max(low, round(v * a + c)))
                for v, a, c in zip(row, gains, offsets, strict=True)
            ]
            for row in raw.tolist()
        ]
    )
    differ = fused != expected
    # float32 vs float64 rounding may disagree right at a .5 tie: at most by one step, rarely.
    assert differ.sum() <= 2
    assert np.all(np.abs(fused - expected) <= 1)


def _random_observations(bundle: Bundle, count: int) -> np.ndarray:
    """Observations in the channels' ranges, beyond them, and exactly on their bounds."""
    spec = bundle.spec.observation
    rng = np.random.default_rng(7)
    span = spec.highs - spec.lows
    inside = rng.uniform(spec.lows, spec.highs, size=(count, spec.size))
    beyond = rng.uniform(spec.lows - span, spec.highs + span, size=(count, spec.size))
    edges = np.stack([spec.lows, spec.highs, np.zeros(spec.size), -np.zeros(spec.size)])
    return np.concatenate([inside, beyond, edges])


def _reference(bundle: Bundle, kind: str) -> Callable[[np.ndarray], tuple[int, np.ndarray]]:
    """The straightforward computation, on an interpreter of its own: normalise (and quantise)
    with numpy, set_tensor, invoke, get_tensor, (dequantise,) argmax."""
    from robot.inference.policy import _fused_quantisation

    entry = bundle.models[kind]
    runtime = choose_runtime(bundle.path, kind, probe=False)
    interpreter = runtime.interpreter(bundle.file(entry.file))
    spec = bundle.spec.observation

    def decide(raw: np.ndarray) -> tuple[int, np.ndarray]:
        if kind == "float32":
            model_input = spec.normalize(raw)[np.newaxis]
        else:
            # The int8 policy's quantisation: q = round(raw × gain + offset), saturated, float64.
            gains, offsets, low, high = _fused_quantisation(spec, entry.input)
            q = np.clip(np.rint(np.asarray(raw, np.float64) * gains + offsets), low, high)
            model_input = q.astype(entry.input.dtype)[np.newaxis]
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], model_input)
        interpreter.invoke()
        out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
        if kind != "float32":
            scale, zero_point = entry.output.scale, entry.output.zero_point
            out = ((out.astype(np.float64) - zero_point) * scale).astype(np.float32)
        return int(np.argmax(out)), out

    return decide


@pytest.mark.parametrize(("policy", "kind"), [("tflite", "float32"), ("tflite-int8", "int8")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fast_path_equals_the_straightforward_computation(
    bundle: Bundle, policy: str, kind: str, dtype: type
) -> None:
    fast, reference = load_policy(bundle, policy), _reference(bundle, kind)
    for raw in _random_observations(bundle, 300).astype(dtype):
        decision = fast.decide(raw)
        action, q_values = reference(raw)
        assert decision.action_index == action, raw
        assert decision.q_values.dtype == np.float32 and decision.q_values.shape == (5,)
        np.testing.assert_array_equal(decision.q_values, q_values)  # bit for bit


@pytest.mark.tflite
def test_float32_observations_beyond_float32_range_are_normalised_as_numpy_does(
    bundle: Bundle,
) -> None:
    # numpy's float32 arithmetic overflows to inf; the fast path hands such input to normalize.
    fast, reference = load_policy(bundle, "tflite"), _reference(bundle, "float32")
    for raw in (np.array([1e39, 1.0, 1.0]), np.array([1.0, -1e300, 1.0])):
        with np.errstate(over="ignore", invalid="ignore"):
            expected = reference(raw)
            decision = fast.decide(raw)
        assert decision.action_index == expected[0]
        np.testing.assert_array_equal(decision.q_values, expected[1])


@pytest.mark.parametrize("policy", ["tflite", "tflite-int8"])
def test_decisions_own_their_q_values(bundle: Bundle, policy: str) -> None:
    fast = load_policy(bundle, policy)
    first = fast.decide(np.array([0.3, 1.0, 1.8], dtype=np.float32))
    kept = first.q_values.copy()
    # Holding a decision holds no view of the interpreter's buffers: invoke() still runs...
    second = fast.decide(np.array([1.8, 0.3, 0.3], dtype=np.float32))
    # ...and the next decision does not change the first one's Q-values.
    np.testing.assert_array_equal(first.q_values, kept)
    assert first.action_index != second.action_index
    first.q_values[:] = 99.0
    assert not np.any(fast.decide(np.array([0.3, 1.0, 1.8], dtype=np.float32)).q_values == 99.0)


@pytest.mark.tflite
def test_int8_q_values_are_dequantised_once_on_demand(bundle: Bundle) -> None:
    from robot.inference.policy import QuantizedDecision

    fast = load_policy(bundle, "tflite-int8")
    raw = np.array([0.3, 1.0, 1.8], dtype=np.float32)
    decision = fast.decide(raw)
    assert isinstance(decision, QuantizedDecision)
    assert decision.q_values is decision.q_values  # computed once, then kept
    assert decision.action_index == int(np.argmax(decision.q_values))
    # Were the output scale's order not checked, the policy dequantises first: same decision.
    assert isinstance(fast, TFLitePolicy)
    fast._codes_ordered = False
    eager = fast.decide(raw)
    assert not isinstance(eager, QuantizedDecision)
    assert eager.action_index == decision.action_index
    np.testing.assert_array_equal(eager.q_values, decision.q_values)


@pytest.mark.tflite
def test_a_normalisation_the_fast_path_does_not_know_falls_back_to_normalize(
    bundle: Bundle, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    spec_class = type(bundle.spec.observation)
    affine = spec_class.normalize
    monkeypatch.setattr(spec_class, "normalize", lambda self, raw: np.tanh(affine(self, raw)))
    fast, reference = load_policy(bundle, "tflite"), _reference(bundle, "float32")
    assert "calling it on every decision instead" in caplog.text
    for raw in _random_observations(bundle, 20).astype(np.float32):
        action, q_values = reference(raw)
        decision = fast.decide(raw)
        assert decision.action_index == action
        np.testing.assert_array_equal(decision.q_values, q_values)


@pytest.mark.parametrize("policy", ["tflite", "tflite-int8"])
def test_an_observation_with_the_wrong_channel_count_is_refused(
    bundle: Bundle, policy: str
) -> None:
    fast = load_policy(bundle, policy)
    for raw in (np.ones(4, np.float32), np.ones(2, np.float32), np.float32(1.0)):
        with pytest.raises(SpecError, match=r"observation: expected 3 channels"):
            fast.decide(raw)  # type: ignore[arg-type]
