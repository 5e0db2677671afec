"""``python -m trainer eval-bundle`` on the committed fixture bundle (sim2pi/ObstacleAvoid-v0)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from shared.bundle import Bundle, read_bundle, write_bundle
from shared.reference_robot import obstacle_avoid_spec
from trainer.cli.main import main
from trainer.errors import UsageError
from trainer.export.bundle_eval import evaluate_bundle

pytestmark = pytest.mark.trainer

FIXTURE_BUNDLE = Path(__file__).resolve().parents[1] / "fixtures" / "obstacle_bundle"


@pytest.fixture(scope="module")
def fixture_bundle() -> Bundle:
    return read_bundle(FIXTURE_BUNDLE)


def test_the_fixture_has_the_reference_robots_spec(fixture_bundle: Bundle) -> None:
    assert fixture_bundle.spec == obstacle_avoid_spec(), (
        "shared/reference_robot.py changed: regenerate the fixture with "
        "`.venv/bin/python tests/fixtures/make_fixture_bundle.py`"
    )
    assert fixture_bundle.manifest["parity"]["float32"]["agreement"] == 1.0


def test_every_policy_runs_on_the_same_seeds(fixture_bundle: Bundle) -> None:
    evaluation = evaluate_bundle(fixture_bundle.path, episodes=2)
    assert {"tflite", "tflite-int8", "qtable"} <= set(evaluation.results)
    assert evaluation.seeds == (1_000_000, 1_000_001)
    for result in evaluation.results.values():
        assert len(result.returns) == 2
        assert all(length >= 1 for length in result.lengths)


def test_cli_prints_a_row_per_policy(
    fixture_bundle: Bundle, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval-bundle", str(fixture_bundle.path), "--episodes", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("sim2pi/ObstacleAvoid-v0: 1 greedy episodes per policy")
    names = [line.split()[0] for line in out[2:] if not line.strip().startswith("(")]
    assert names[:3] == ["tflite", "tflite-int8", "qtable"]


def copy_with_spec(bundle: Bundle, tmp_path: Path, env_id: str) -> Bundle:
    return write_bundle(
        tmp_path / "b",
        spec=dataclasses.replace(bundle.spec, env_id=env_id),
        files={name: bundle.file(name) for name in bundle.manifest["files"]},
        models=dict(bundle.models),
        discretizer=bundle.discretizer,
        qtable_file=bundle.qtable_file,
    )


def test_a_bundle_whose_spec_does_not_fit_its_env_is_refused(
    fixture_bundle: Bundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = copy_with_spec(fixture_bundle, tmp_path, "CartPole-v1")
    with pytest.raises(
        UsageError, match=r"spec does not fit the env CartPole-v1: bundle has \(3, 5\)"
    ):
        evaluate_bundle(wrong.path, 1)
    assert main(["eval-bundle", str(wrong.path)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_an_unknown_env_is_a_usage_error(
    fixture_bundle: Bundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = copy_with_spec(fixture_bundle, tmp_path, "NoSuchEnv-v0")
    assert main(["eval-bundle", str(unknown.path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'NoSuchEnv-v0': not a registered Gymnasium env id" in err[0]


def test_policies_run_on_the_robots_runtime_choice(
    fixture_bundle: Bundle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # eval-bundle loads models through robot.inference.policy: the robot's runtime override applies.
    monkeypatch.setenv("SIM2PI_TFLITE_RUNTIME", "no_such_runtime")
    assert main(["eval-bundle", str(fixture_bundle.path), "--episodes", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SIM2PI_TFLITE_RUNTIME='no_such_runtime'" in err[0]
