"""``robot check``'s int8 line: the compact model's quantisation, agreement, bar and gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from robot.cli.check_int8 import int8_summary
from tests.robot.conftest import run_robot

ROOT = Path(__file__).resolve().parents[3]


def _manifest(**int8: Any) -> dict[str, Any]:
    bar = int8.pop("bar", 0.99)
    mode = int8.pop("quantization", None)
    model: dict[str, Any] = {"file": "policy_int8.tflite"}
    if mode is not None:
        model["quantization"] = mode
    return {
        "models": {"int8": model},
        "parity": {"thresholds": {"float32": 1.0, "int8": bar}, "int8": int8},
    }


def test_a_bundle_without_an_int8_model_has_no_line() -> None:
    assert int8_summary({"models": {"float32": {}}}) is None


def test_the_reference_bundle_says_its_bar_was_lowered() -> None:
    manifest = json.loads((ROOT / "reference_bundles/obstacle_avoid/manifest.json").read_text())
    line = int8_summary(manifest)
    assert line is not None and line.startswith("int8     ")
    agreement = manifest["parity"]["int8"]["agreement"]
    assert f"agreement {agreement:.2%} with Keras" in line
    if manifest["parity"]["thresholds"]["int8"] < 0.99:
        assert "LOWERED" in line and "meets only the lowered bar" in line
    else:
        assert "LOWERED" not in line


def test_an_old_manifest_is_full_int8_gated_by_agreement() -> None:
    line = int8_summary(_manifest(agreement=0.995))
    assert line == (
        "int8     full-int8: int8 weights and activations; agreement 99.50% with Keras "
        "(bar 99%): keeps the policy by agreement"
    )


def test_a_model_kept_by_its_return_shows_the_returns() -> None:
    returns = {
        "episodes": 100,
        "float32_mean": 500.0,
        "int8_mean": 498.5,
        "required": 490.0,
        "passed": True,
    }
    line = int8_summary(
        _manifest(quantization="float-output", agreement=0.71, returns=returns, gate="return")
    )
    assert line is not None
    assert "float-output: int8 layers, float32 last layer; agreement 71.00%" in line
    assert "(bar 99%)" in line and "LOWERED" not in line
    assert "return 498.50 against float32's 500.00 over 100 episodes (required 490.00)" in line
    assert line.endswith("keeps the policy by its return")


def test_a_refitted_hidden_int8_model_names_its_mode_and_in_sample_agreement() -> None:
    returns = {
        "episodes": 100,
        "float32_mean": -101.21,
        "int8_mean": -102.04,
        "required": -103.23,
        "passed": True,
    }
    line = int8_summary(
        _manifest(
            quantization="hidden-int8",
            agreement=0.9708,
            agreement_in_sample=True,
            returns=returns,
            gate="return",
        )
    )
    assert line == (
        "int8     hidden-int8: int8 hidden layers, float32 first and refitted last layer; "
        "agreement 97.08% with Keras (in sample, bar 99%); return -102.04 against float32's "
        "-101.21 over 100 episodes (required -103.23): keeps the policy by its return"
    )


def test_a_lowered_bar_is_named_even_when_the_agreement_meets_the_default() -> None:
    line = int8_summary(_manifest(quantization="float16", agreement=0.999, bar=0.9))
    assert line is not None
    assert "float16: float16 weights" in line and "LOWERED" in line
    assert line.endswith("keeps the policy by agreement")


def test_a_manifest_without_parity_says_so() -> None:
    line = int8_summary({"models": {"int8": {"quantization": "float16"}}})
    assert line == "int8     float16: float16 weights, float32 arithmetic; no parity recorded"


def test_robot_check_prints_the_line() -> None:
    result = run_robot("check", "--config", "robot/examples/reference_sim.toml", timeout_s=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("int8     ")]
    assert len(lines) == 1 and "agreement" in lines[0] and "with Keras" in lines[0]
