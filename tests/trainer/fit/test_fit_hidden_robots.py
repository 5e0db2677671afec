"""``trainer fit-robot`` finds hidden robots: real ``robot calibrate`` drives on the ``sim``
backend (child processes, simulated time), then the fit, checked against the hidden values:
each motor's gain and the dead band within 10 %, the latency exact, the noise within 25 %."""

from __future__ import annotations

from typing import Any

import pytest
from hidden_drives import ROBOTS, calibrate, fit_robot, truth

pytestmark = pytest.mark.trainer


@pytest.fixture(scope="module", params=sorted(ROBOTS))
def fitted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A hidden robot's drive and fit: (name, the hidden values, the profile, the table)."""
    folder = tmp_path_factory.mktemp(request.param)
    log, _ = calibrate(folder, ROBOTS[request.param])
    profile, printed = fit_robot(log, folder / "fitted.toml")
    return request.param, truth(log), profile, printed


def _relative(fitted: float, true: float) -> float:
    return abs(fitted - true) / abs(true)


def test_the_bars_are_met(fitted: Any) -> None:
    name, hidden, profile, _ = fitted
    fit = profile["fit"]
    for key in ("left_gain", "right_gain", "dead_band", "latency_ticks", "noise_std_m"):
        assert fit[key]["identified"], (name, key, fit[key])
    assert _relative(fit["left_gain"]["value"], hidden["left_gain"]) <= 0.10, name
    assert _relative(fit["right_gain"]["value"], hidden["right_gain"]) <= 0.10, name
    assert _relative(fit["dead_band"]["value"], hidden["dead_band"]) <= 0.10, name
    assert fit["latency_ticks"]["value"] == hidden["latency_ticks"], name
    assert _relative(fit["noise_std_m"]["value"], hidden["noise_std_m"]) <= 0.25, name


def test_the_side_angle_and_time_constant_are_found(fitted: Any) -> None:
    name, hidden, profile, _ = fitted
    fit = profile["fit"]
    assert fit["side_ranger_deg"]["identified"]
    assert abs(fit["side_ranger_deg"]["value"] - hidden["side_ranger_deg"]) <= 3.0, name
    assert _relative(fit["time_constant_s"]["value"], hidden["time_constant_s"]) <= 0.25, name


def test_the_profile_says_the_env_the_fit_found(fitted: Any) -> None:
    _, hidden, profile, _ = fitted
    assert profile["profile"]["source"] == "fit-robot"
    assert profile["profile"]["env_id"] == "sim2pi/ObstacleAvoid-v0"
    env, fit = profile["env"], profile["fit"]
    assert env["motor_gain"] * env["left_motor_gain"] == pytest.approx(
        fit["left_gain"]["value"], rel=1e-3
    )
    assert env["motor_gain"] * env["right_motor_gain"] == pytest.approx(
        fit["right_gain"]["value"], rel=1e-3
    )
    assert env["dead_band_range"] == [fit["dead_band"]["value"]] * 2
    assert env["latency_ticks"] == hidden["latency_ticks"]
    assert env["sensor_noise_m"] == fit["noise_std_m"]["value"]
    assert env["side_ranger_deg"] == fit["side_ranger_deg"]["value"]
    # What was not identified is listed with its reason and left out of [env].
    keys = {"dropout_prob": "dropout_prob", "time_constant_s": "motor_time_constant_s"}
    for name, key in keys.items():
        assert (key in env) == fit[name]["identified"], name
        if not fit[name]["identified"]:
            assert fit[name]["why_not"] in fit["not_identified"]


def test_the_fitted_simulator_reproduces_the_log_better_than_the_default(fitted: Any) -> None:
    name, _, profile, printed = fitted
    fit = profile["fit"]
    assert fit["residual_m"] < fit["default_residual_m"] / 2, name
    for key in ("left_gain", "dead_band", "latency_ticks", "side_ranger_deg", "noise_std_m"):
        assert any(line.startswith(key) for line in printed.splitlines()), printed
    assert "default simulator" in printed
