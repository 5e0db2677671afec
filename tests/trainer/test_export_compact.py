"""The compact model's quantisation modes, its return gate, and ``--bins auto``: real tiny runs,
real conversions, the robot's own policy code on the written bundles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot.inference.policy import load_policy
from shared.bundle import Bundle
from tests.trainer.test_export import cartpole_run  # noqa: F401  (a tiny CartPole run)
from trainer.cli.main import main
from trainer.export import exporter
from trainer.export.exporter import ExportOptions, export_run
from trainer.export.parity import ParityError, agreement, failures
from trainer.export.returns import required_return
from trainer.export.tflite import QUANTIZATIONS
from trainer.rundir import RunDir

pytestmark = [pytest.mark.trainer, pytest.mark.slow]

#: Each mode's input and output dtype.
DTYPES = {
    "full-int8": "int8",
    "float-output": "float32",
    "hidden-int8": "float32",
    "float16": "float32",
}


@pytest.mark.parametrize("mode", QUANTIZATIONS)
def test_each_mode_is_recorded_and_runs_on_the_robot(
    cartpole_run: RunDir,  # noqa: F811
    tmp_path: Path,
    mode: str,
) -> None:
    options = ExportOptions(
        int8=True, int8_mode=mode, parity_states=2_000, return_episodes=3, min_agreement={"int8": 0}
    )
    bundle = export_run(cartpole_run.path, tmp_path / mode, options, log=lambda _: None).bundle
    entry = bundle.models["int8"]
    assert entry.extra["quantization"] == bundle.manifest["parity"]["int8"]["quantization"] == mode
    assert entry.input.dtype == entry.output.dtype == DTYPES[mode]
    assert ("output_quantum" in bundle.manifest["parity"]["int8"]) == (mode == "full-int8")
    policy = load_policy(bundle, "tflite-int8")
    reference = entry.extra["reference"]
    for raw, expected in zip(reference["observations"], reference["outputs"], strict=True):
        q = policy.decide(np.asarray(raw, dtype=np.float32)).q_values
        np.testing.assert_allclose(q, expected, rtol=1e-6, atol=1e-6)
    sizes = {k: v["bytes"] for k, v in bundle.manifest["files"].items()}
    assert sizes["policy_int8.tflite"] < sizes["policy.tflite"]


def test_hidden_int8_is_refitted_recorded_and_replays_through_the_robot_exactly(
    cartpole_run: RunDir,  # noqa: F811
    tmp_path: Path,
) -> None:
    options = ExportOptions(
        int8=True, int8_mode="hidden-int8", parity_states=2_000, return_episodes=3
    )
    lines: list[str] = []
    bundle = export_run(cartpole_run.path, tmp_path / "b", options, lines.append).bundle
    entry, int8 = bundle.models["int8"], bundle.manifest["parity"]["int8"]
    refit = entry.extra["refit"]
    assert refit["states"] == 2_000 and "in sample" in refit["in_sample"]
    assert refit["rms_q_error"] < int8["max_abs_q_diff"] + 1e-9
    assert int8["agreement_in_sample"] is True
    # In sample: the return gate (other seeds) runs whatever the agreement, and is recorded.
    assert int8["returns"]["episodes"] == 3 and int8["gate"] in ("agreement", "return")
    assert any("agreement in sample" in line for line in lines)
    # Float in, float out; int8 weights inside: the first and last layer float, the rest int8.
    from robot.inference.probe_child import build_interpreter, quantised
    from robot.inference.tflite_runtimes import choose_runtime

    runtime = choose_runtime(bundle.path, "int8", probe=False)
    interpreter = build_interpreter(runtime.interpreter_class, str(bundle.file(entry.file)))
    assert quantised(interpreter)
    interpreter.allocate_tensors()
    details = interpreter.get_tensor_details()
    layers = [op for op in interpreter._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"]
    weights = [np.dtype(details[op["inputs"][1]]["dtype"]).name for op in layers]
    assert weights[0] == weights[-1] == "float32" and set(weights[1:-1]) == {"int8"}
    # The robot's policy gives the recorded reference outputs exactly, and the Q-values the
    # export measured agreement with.
    policy = load_policy(bundle, "tflite-int8")
    reference = entry.extra["reference"]
    for raw, expected in zip(reference["observations"], reference["outputs"], strict=True):
        q = policy.decide(np.asarray(raw, dtype=np.float32)).q_values
        np.testing.assert_array_equal(q, np.asarray(expected, dtype=np.float32))
    sizes = {k: v["bytes"] for k, v in bundle.manifest["files"].items()}
    assert sizes["policy_int8.tflite"] * 1.9 < sizes["policy.tflite"]  # 64x64 here: ~2x


def test_the_refit_leaves_the_keras_model_and_the_int8_layers_as_they_were(
    cartpole_run: RunDir,  # noqa: F811
) -> None:
    from trainer.export import tflite

    model = cartpole_run.load_keras_model("best")
    before = [w.copy() for w in model.get_weights()]
    inputs = np.random.default_rng(0).uniform(-1, 1, size=(300, 4)).astype(np.float32)
    keras_q = np.asarray(model.predict(inputs, verbose=0), dtype=np.float64)
    content, refit = tflite.convert_hidden_int8(model, inputs, keras_q)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert refit["states"] == 300
    # The refitted model's last layer is fed what the fit was computed on: the same int8 layers.
    float_layers = [tflite._dense_outputs(tflite.convert_float32(model))[i] for i in (0, -1)]
    first = tflite._selective_int8(model, tflite._representative(inputs, None), float_layers)
    np.testing.assert_array_equal(
        tflite._last_layer_inputs(first, inputs), tflite._last_layer_inputs(content, inputs)
    )


def test_below_its_bar_the_model_is_gated_by_its_return(
    cartpole_run: RunDir,  # noqa: F811
    tmp_path: Path,
) -> None:
    # 100% agreement is out of reach for full-int8 here, so the return check decides.
    options = ExportOptions(
        int8=True,
        int8_mode="full-int8",
        parity_states=2_000,
        return_episodes=4,
        min_agreement={"int8": 1.0},
    )
    lines: list[str] = []
    try:
        bundle: Bundle | None = export_run(
            cartpole_run.path, tmp_path / "b", options, lines.append
        ).bundle
    except ParityError as exc:
        assert "and returns" in str(exc) and "over 4 episodes" in str(exc)
        bundle = None
    report = "\n".join(lines)
    assert "return over 4 episodes" in report
    if bundle is not None:
        int8 = bundle.manifest["parity"]["int8"]
        assert int8["gate"] == "return" and int8["agreement"] < 1.0
        returns = int8["returns"]
        assert returns["episodes"] == 4 and returns["passed"] is True
        assert returns["reset_seeds"] == [1_000_000, 1_000_003]
        assert (
            returns["int8_mean"] >= returns["required"] == required_return(returns["float32_mean"])
        )


def test_auto_tries_the_next_mode_when_one_misses(
    cartpole_run: RunDir,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # full-int8 agrees on ~99.6% here: below a 100% bar, and no return gate to save it.
    monkeypatch.setattr(exporter, "AUTO_QUANTIZATIONS", ("full-int8", "float16"))
    options = ExportOptions(
        int8=True, parity_states=2_000, return_episodes=0, min_agreement={"int8": 1.0}
    )
    lines: list[str] = []
    try:
        bundle: Bundle | None = export_run(
            cartpole_run.path, tmp_path / "b", options, lines.append
        ).bundle
    except ParityError as exc:
        assert "int8 agrees on" in str(exc)
        bundle = None
    tried = [line for line in lines if "misses its gate" in line]
    assert len(tried) == 1 and tried[0].startswith("int8 mode full-int8 misses its gate")
    assert tried[0].endswith("trying float16")
    if bundle is not None:
        int8 = bundle.manifest["parity"]["int8"]
        assert int8["quantization"] == "float16" and int8["gate"] == "agreement"
        assert int8["tried"][0]["quantization"] == "full-int8"
        assert int8["tried"][0]["agreement"] < 1.0


def test_the_return_bar_is_two_percent_of_float32s_either_sign() -> None:
    assert required_return(500.0) == pytest.approx(490.0)
    assert required_return(-100.0) == pytest.approx(-102.0)
    keras = np.array([[1.0, 0.0]] * 100)
    flipped = keras.copy()
    flipped[:5] = [0.0, 1.0]
    results = {"int8": agreement(keras, flipped, 0.0)}
    passed = {"int8": {"passed": True}}
    assert failures(results, {"int8": 0.99}, passed) == []
    missed = {
        "int8": {
            "passed": False,
            "int8_mean": 90.0,
            "float32_mean": 100.0,
            "required": 98.0,
            "episodes": 100,
        }
    }
    [message] = failures(results, {"int8": 0.99}, missed)
    assert "95.0000%" in message and "returns 90.00 over 100 episodes" in message


@pytest.mark.parametrize(
    "case", [(2_000, "uniform", [1, 1, 6, 3]), (20, "edges", [1, 1, 2, 2])], ids=["kept", "fitted"]
)
def test_bins_auto_fits_the_grid_to_the_rollouts(
    cartpole_run: RunDir,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: tuple[int, str, list[int]],
) -> None:
    states, grid, bins = case
    # 2,000 states fill CartPole's 18-state preset grid: kept. 20 states do not: 2 bins per
    # channel at the median (the preset's single-bin channels stay single).
    out = tmp_path / "auto"
    args = ["export", str(cartpole_run.path), "--out", str(out), "--qtable", "--bins", "auto"]
    assert main([*args, "--parity-states", str(states)]) == 0
    printed = capsys.readouterr().out
    from shared.bundle import read_bundle

    manifest = read_bundle(out).manifest
    report = manifest["parity"]["qtable"]
    assert (report["grid"], report["bins"]) == (grid, bins)
    assert manifest["discretizer"]["bins"] == bins
    assert report["table_bytes"] == report["grid_states"] * 2 * 8
    assert 0 < report["bins_visited"] <= report["grid_states"]
    assert f"{report['table_bytes']:,} bytes" in printed


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--bins", "auto"], "--bins: sets the grid"),
        (["--qtable", "--bins", "auto", "--bin-edges", "0.1"], "not allowed with argument"),
        (["--int8", "--int8-mode", "int4"], "argument --int8-mode: invalid choice"),
        (["--int8", "--return-episodes", "-1"], "--return-episodes: expected a count >= 0"),
    ],
)
def test_bad_new_options_are_one_line_errors(
    cartpole_run: RunDir,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    expected: str,
) -> None:
    try:
        code = main(["export", str(cartpole_run.path), "--out", str(tmp_path / "b"), *extra])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert expected in err[0]
    assert not (tmp_path / "b").exists()


@pytest.fixture(scope="module")
def one_hidden_layer_run(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    """A tiny CartPole run whose network has one hidden layer (two Dense layers)."""
    from trainer.training import TrainingRun

    out = tmp_path_factory.mktemp("one_hidden") / "run"
    overrides = ["hidden_sizes=16", "learning_starts=100", "eval_every=0", "stop_on_solved=false"]
    overrides += ["eval_episodes=1", "final_eval_episodes=1", "confirm_episodes=1"]
    run = TrainingRun.create("CartPole-v1", "dqn", 0, overrides, out, total_steps=400)
    try:
        run.run(progress=False)
    finally:
        run.close()
    return RunDir(out)


def test_hidden_int8_needs_a_hidden_layer_between_first_and_last(
    one_hidden_layer_run: RunDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``auto`` goes on to the next mode; asked for by name it is one line, nothing written."""
    lines: list[str] = []
    options = ExportOptions(int8=True, parity_states=1_000, return_episodes=2)
    bundle = export_run(one_hidden_layer_run.path, tmp_path / "auto", options, log=lines.append)
    assert bundle.bundle.models["int8"].extra["quantization"] != "hidden-int8"
    assert any("hidden-int8 does not apply to 2 Dense layers" in line for line in lines)
    out = tmp_path / "named"
    args = ["export", str(one_hidden_layer_run.path), "--out", str(out), "--int8"]
    code = main([*args, "--int8-mode", "hidden-int8", "--parity-states", "1000"])
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has 2 Dense layers" in err[0] and "--int8-mode float16" in err[0]
