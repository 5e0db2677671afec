"""Robot profiles (``--robot-profile``): the shipped example, reading, and every refusal."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import pytest

from bench.shifted_learning import ANGLED
from shared.reference_robot import ENV_ID
from trainer.cli.main import main
from trainer.errors import UsageError
from trainer.robot_profile import EXAMPLE, load_profile, read_profile

pytestmark = pytest.mark.trainer

ROOT = Path(__file__).resolve().parents[2]
HEADER = f'[profile]\nformat = 1\nname = "t"\nenv_id = "{ENV_ID}"\n'


def _write(tmp_path: Path, text: str, name: str = "robot.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_example_is_the_benchmarks_angled_robot() -> None:
    profile = load_profile(EXAMPLE, ENV_ID)
    assert EXAMPLE == ROOT / "trainer" / "profiles" / "angled.toml"
    assert (profile.name, profile.env_id, profile.source) == ("angled", ENV_ID, "hand")
    assert dict(profile.env) == {
        "motor_gain": ANGLED.motor_gain,
        "dead_band_range": [ANGLED.dead_band, ANGLED.dead_band],
        "sensor_noise_m": ANGLED.noise_std_m,
        "latency_ticks": ANGLED.latency_ticks,
        "side_ranger_deg": ANGLED.side_ranger_deg,
    }
    assert profile.sha256 == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    record = profile.record()
    assert record == {
        "path": str(EXAMPLE),
        "sha256": profile.sha256,
        "name": "angled",
        "source": "hand",
        "env": dict(profile.env),
    }


def test_defaults_and_other_tables_are_carried_untouched(tmp_path: Path) -> None:
    fit = (
        "[fit.motor_gain]\nvalue = 0.61\nuncertainty = 0.02\nidentified = true\n"
        '[fit.latency_ticks]\nvalue = 1\nidentified = false\nwhy = "one speed step only"\n'
        "[residuals]\nrange_m = [0.01, -0.02]\n"
    )
    text = f'[profile]\nformat = 1\nenv_id = "{ENV_ID}"\n[env]\nmotor_gain = 0.61\n{fit}'
    path = _write(tmp_path, text, "my-robot.toml")
    profile = read_profile(path)
    assert (profile.name, profile.source) == ("my-robot", "hand")  # the defaults
    assert profile.tables == {
        k: v for k, v in tomllib.loads(text).items() if k in ("fit", "residuals")
    }
    assert profile.tables["fit"]["latency_ticks"]["why"] == "one speed step only"


def test_an_empty_env_table_is_the_simulators_robot(tmp_path: Path) -> None:
    profile = load_profile(_write(tmp_path, HEADER + "[env]\n"), ENV_ID)
    assert dict(profile.env) == {}


#: (profile text, the fragments the one-line error must hold)
BAD_PROFILES = {
    "not-toml": (
        HEADER + "[env]\nmotor_gain = \n",
        ["robot.toml: not a TOML file (", "a robot profile is TOML", "angled.toml"],
    ),
    "no-profile": (
        "[env]\nmotor_gain = 0.6\n",
        ["robot.toml: expected a [profile] table", "found no such table; add it"],
    ),
    "no-env": (HEADER, ["robot.toml: expected a [env] table", "found no such table; add it"]),
    "no-format": (
        f'[profile]\nenv_id = "{ENV_ID}"\n[env]\n',
        ["robot.toml [profile]: expected a key format, e.g. format = 1, found none"],
    ),
    "no-env-id": (
        "[profile]\nformat = 1\n[env]\n",
        ['[profile]: expected a key env_id, e.g. env_id = "sim2pi/ObstacleAvoid-v0"'],
    ),
    "format-2": (
        HEADER.replace("format = 1", "format = 2") + "[env]\n",
        ["robot.toml [profile] format: expected 1, found 2", "update sim2pi"],
    ),
    "format-string": (
        HEADER.replace("format = 1", 'format = "1"') + "[env]\n",
        ['[profile] format: expected 1, found "1"'],
    ),
    "unknown-profile-key": (
        HEADER + "robot = 2\n[env]\n",
        ["[profile] robot: not a key of [profile]; expected one of format, env_id, name, source"],
    ),
    "bad-source": (
        HEADER + 'source = "guess"\n[env]\n',
        ["[profile] source: expected one of 'hand', 'fit-robot', found 'guess'"],
    ),
    "empty-name": (
        HEADER.replace('name = "t"', 'name = ""') + "[env]\n",
        ['[profile] name: expected a non-empty string, found ""'],
    ),
    "value-outside-tables": (
        "motor_gain = 0.6\n" + HEADER + "[env]\n",
        ["robot.toml: motor_gain = 0.6 is outside any table", "goes under [env]"],
    ),
    "other-env": (
        HEADER.replace(ENV_ID, "CartPole-v1") + "[env]\n",
        [
            f"robot.toml [profile] env_id: expected '{ENV_ID}' (the env of this command), "
            "found 'CartPole-v1'"
        ],
    ),
    "unknown-keyword": (
        HEADER + "[env]\nmotor_gain = 0.6\nwheel_gain = 2\n",
        [
            f"robot.toml [env] wheel_gain=...: {ENV_ID} has no keyword 'wheel_gain'; "
            "it accepts: render_mode, control_period_s,",
            "side_ranger_deg, collision, max_contact_s; fix it in the profile's [env] table",
        ],
    ),
    "refused-value": (
        HEADER + "[env]\nmotor_gain = 3\n",
        [
            f"robot.toml [env] motor_gain=3: {ENV_ID} refused it (motor_gain: expected in "
            "(0, 2], found 3); expected float (default 1.0), found 3; fix it in the profile's"
        ],
    ),
    "refused-pair": (
        HEADER + "[env]\ndead_band_range = [0.3]\n",
        ["robot.toml [env] dead_band_range=[0.3]: ", "found [0.3]"],
    ),
    "date": (
        HEADER + "[env]\nmotor_gain = 2026-12-07\n",
        ["robot.toml [env] motor_gain: expected a number", "found the date/time 2026-12-07"],
    ),
    "nested-too-deep-to-parse": (
        HEADER + "[env]\nmotor_gain = " + "[" * 5000 + "]" * 5000 + "\n",
        ["robot.toml: arrays or tables nested too deeply to read; expected"],
    ),
    "nested-deep": (
        HEADER + "[env]\nmotor_gain = " + "[" * 300 + "]" * 300 + "\n",
        ["robot.toml [env] motor_gain: expected", "found arrays or tables nested more than 4"],
    ),
    "bool-for-int": (
        HEADER + "[env]\nlatency_ticks = true\n",
        ["robot.toml [env] latency_ticks: expected numbers, found true (true/false, which the"],
    ),
    "bool-for-float": (
        HEADER + "[env]\nmotor_gain = false\n",
        ["[env] motor_gain: expected numbers, found false", "e.g. motor_gain = 1.0 (the env's"],
    ),
    "bool-in-array": (
        HEADER + "[env]\ndead_band_range = [true, 0.3]\n",
        ["[env] dead_band_range: expected numbers, found [true, 0.3]"],
    ),
    "inf": (
        HEADER + "[env]\nsensor_noise_m = inf\n",
        ["robot.toml [env] sensor_noise_m: expected a finite number, found inf"],
    ),
    "nan-in-array": (
        HEADER + "[env]\ndead_band_range = [0.3, -nan]\n",
        ["robot.toml [env] dead_band_range: expected a finite number, found nan"],
    ),
    "render-mode": (
        HEADER + '[env]\nrender_mode = "human"\n',
        ["robot.toml [env] render_mode: not a robot parameter (it would open a window", "remove"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_PROFILES))
def test_a_bad_profile_is_one_line_and_exit_2_before_a_run_exists(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, fragments = BAD_PROFILES[case]
    profile, out = _write(tmp_path, text), tmp_path / "run"
    argv = ["train", "--env", ENV_ID, "--algo", "qlearning", "--robot-profile", str(profile)]
    assert main([*argv, "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("python -m trainer train: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert not out.exists()


def test_a_boolean_is_taken_where_the_env_takes_one(tmp_path: Path) -> None:
    text = HEADER.replace(ENV_ID, "CartPole-v1") + "[env]\nsutton_barto_reward = true\n"
    assert load_profile(_write(tmp_path, text), "CartPole-v1").env == {"sutton_barto_reward": True}


def test_a_missing_or_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--robot-profile .*nope\.toml: no such file; give"):
        read_profile(tmp_path / "nope.toml")
    with pytest.raises(UsageError, match=r"--robot-profile .*: cannot be read \(Is a directory\)"):
        read_profile(tmp_path)
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\xff\xfe[profile]")
    with pytest.raises(UsageError, match=r"b\.toml: not a TOML file \("):
        read_profile(binary)


def test_train_takes_the_env_from_the_profile_but_refuses_another(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--env", "CartPole-v1", "--algo", "qlearning", "--robot-profile"]
    assert main([*argv, str(EXAMPLE), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "[profile] env_id: expected 'CartPole-v1' (the env of this command), found" in err
    # Without --env and --algo: the env is the profile's, --algo is still required.
    assert main(["train", "--robot-profile", str(EXAMPLE), "--out", str(tmp_path / "run")]) == 2
    assert "--env and --algo are required" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["eval", "export", "eval-bundle"])
def test_every_command_checks_the_profile(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A profile of another env is refused before anything runs (the fixture bundle's env and a
    hand-made run directory's)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(f'{{"algo": "qlearning", "env_id": "{ENV_ID}"}}')
    target = (
        str(ROOT / "tests" / "fixtures" / "obstacle_bundle")
        if command == "eval-bundle"
        else str(run)
    )
    profile = _write(tmp_path, HEADER.replace(ENV_ID, "CartPole-v1") + "[env]\n")
    extra = ["--out", str(tmp_path / "bundle")] if command == "export" else []
    assert main([command, target, *extra, "--robot-profile", str(profile)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"[profile] env_id: expected '{ENV_ID}'" in lines[0]
    assert "instead of the run's" not in captured.out
    assert not (tmp_path / "bundle").exists()


def test_a_written_profile_reads_back_to_the_same_values(tmp_path: Path) -> None:
    from trainer.robot_profile_toml import profile_toml, write_profile

    fit = {
        "motor_gain": {"value": 0.61, "uncertainty": 1e-05, "identified": True},
        "latency_ticks": {"value": 1, "identified": False, "why": 'one "speed" step, é'},
    }
    tables = {"fit": fit, "residuals": {"range_m": [0.01, -0.02], "odd key": float("inf")}}
    env = {**read_profile(EXAMPLE).env, "motor_gain": 0.61}
    text = profile_toml(name="bot 2", env_id=ENV_ID, env=env, source="fit-robot", tables=tables)
    path = write_profile(tmp_path / "bot.toml", text)
    profile = load_profile(path, ENV_ID)
    assert (profile.name, profile.source, dict(profile.env)) == ("bot 2", "fit-robot", env)
    assert profile.tables == tables
    assert "[fit]" not in text and "[fit.motor_gain]" in text
    example = read_profile(EXAMPLE)
    again = profile_toml(name=example.name, env_id=example.env_id, env=example.env)
    assert read_profile(write_profile(tmp_path / "again.toml", again)).env == example.env


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"env": {"start": EXAMPLE}}, "start: a robot profile holds strings, numbers"),
        ({"env": {"ranges": [{"a": 1}]}}, "ranges: a robot profile holds"),
        ({"env": {}, "source": "guess"}, "source: expected one of"),
        ({"env": {}, "tables": {"env": {}}}, "are the profile's own tables"),
    ],
)
def test_the_writer_refuses_what_a_profile_cannot_hold(arguments: dict, message: str) -> None:
    from trainer.robot_profile_toml import profile_toml

    with pytest.raises(ValueError, match=message):
        profile_toml(name="x", env_id=ENV_ID, **arguments)
