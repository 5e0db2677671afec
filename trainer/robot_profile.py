"""Robot profiles: a TOML file that says which simulator keywords describe one real robot.

A profile is what ``--env-arg`` takes, in a file a person writes by hand or ``fit-robot`` writes
from a calibration drive's log: ``[profile]`` (``format = 1``, ``env_id``, ``name``, ``source``),
``[env]`` (the env's keyword arguments) and any other table, carried through untouched
(``docs/training.md``, "Robot profiles"; the example is ``trainer/profiles/angled.toml``).

``read_profile`` checks the file's structure; ``load_profile`` also checks it against the env
it is used with (its id, its constructor's keywords, the values it accepts). Every problem is
one ``UsageError`` naming the file, the key, what was expected, what was found and the fix.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.errors import UsageError
from trainer.robot_profile_checks import check_json_value as _check_json_value

#: The profile format this trainer reads and writes.
FORMAT = 1
#: Who wrote a profile: a person, or ``python -m trainer fit-robot`` from a drive's log.
SOURCES = ("hand", "fit-robot")
#: The keys of ``[profile]``: required ones first.
REQUIRED_KEYS = ("format", "env_id")
OPTIONAL_KEYS = ("name", "source")
#: The shipped example: the learning benchmark's ``angled`` robot.
EXAMPLE = Path(__file__).resolve().parent / "profiles" / "angled.toml"
_SEE = "see trainer/profiles/angled.toml"
#: The keywords that describe the robot rather than its world (arena, obstacles, episodes,
#: collisions, control period), per env id. ``eval``/``export``/``eval-bundle --robot-profile``
#: replace these in a run's env: the profile's values, else the env's defaults (the simulator's
#: reference robot). For an env not listed every keyword is the robot's.
ROBOT_KEYS: Mapping[str, tuple[str, ...]] = {
    "sim2pi/ObstacleAvoid-v0": (
        "motor_gain",
        "left_motor_gain",
        "right_motor_gain",
        "motor_time_constant_s",
        "motor_gain_spread",
        "dead_band_range",
        "latency_ticks",
        "sensor_noise_m",
        "dropout_prob",
        "side_ranger_deg",
    ),
}
#: ``[env]`` keywords a profile may not hold: not the robot's physics (render_mode opens a window).
NOT_PHYSICAL = ("render_mode",)


@dataclass(frozen=True)
class RobotProfile:
    """One robot profile file, read and checked."""

    #: the file, as given
    path: Path
    #: sha256 of the file's bytes (a run records it; ``--resume`` compares it)
    sha256: str
    #: free text, e.g. ``angled`` (``[profile] name``; default the file's stem)
    name: str
    #: the env whose keyword arguments ``env`` holds
    env_id: str
    #: ``hand`` or ``fit-robot``
    source: str
    #: the env's keyword arguments (``[env]``)
    env: Mapping[str, Any]
    #: every other top-level table (``[fit]``, residuals, …), exactly as read
    tables: Mapping[str, Any]

    def record(self) -> dict[str, Any]:
        """What a run's config.json and a bundle's manifest keep of the profile."""
        return {
            "path": str(self.path.resolve()),
            "sha256": self.sha256,
            "name": self.name,
            "source": self.source,
            "env": dict(self.env),
        }

    def describe(self) -> str:
        """``robot profile 'angled' (trainer/profiles/angled.toml)`` for messages."""
        return f"robot profile {self.name!r} ({self.path})"


def read_profile(path: str | Path) -> RobotProfile:
    """Read a profile and check its structure (not yet against an env)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"--robot-profile {path}: no such file; give the path of a robot profile ({_SEE})"
        ) from None
    except OSError as exc:
        raise UsageError(
            f"--robot-profile {path}: cannot be read ({exc.strerror}); give a readable TOML file"
        ) from None
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(
            f"{path}: not a TOML file ({exc}); a robot profile is TOML with [profile] and [env] "
            f"tables, {_SEE}"
        ) from None
    except RecursionError:
        raise UsageError(
            f"{path}: arrays or tables nested too deeply to read; expected a robot profile's "
            f"flat values, e.g. dead_band_range = [0.3, 0.3] ({_SEE})"
        ) from None
    header = _table(document, "profile", path, "format = 1 and env_id")
    env = _table(document, "env", path, "the env's keyword arguments, e.g. motor_gain = 0.6")
    for key, value in document.items():
        if key not in ("profile", "env") and not isinstance(value, dict):
            raise UsageError(
                f"{path}: {key} = {_show(value)} is outside any table; expected tables only, "
                f"found a value; an env keyword goes under [env] ({_SEE})"
            )
    _check_header(header, path)
    for key, value in env.items():
        _check_json_value(value, path, key)
        if key in NOT_PHYSICAL:
            raise UsageError(
                f"{path} [env] {key}: not a robot parameter (it would open a window or render "
                f"frames), found {_show(value)}; remove it from the profile"
            )
    return RobotProfile(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        name=str(header.get("name", path.stem)),
        env_id=header["env_id"],
        source=str(header.get("source", "hand")),
        env=env,
        tables={k: v for k, v in document.items() if k not in ("profile", "env")},
    )


def load_profile(path: str | Path, env_id: str) -> RobotProfile:
    """Read a profile for ``env_id`` and check ``[env]`` against that env's constructor."""
    from trainer.gymenv import make_checked_env

    profile = read_profile(path)
    if profile.env_id != env_id:
        raise UsageError(
            f"{profile.path} [profile] env_id: expected {env_id!r} (the env of this command), "
            f"found {profile.env_id!r}; use a profile written for {env_id}"
        )
    _check_booleans(profile, env_id)
    _checked(lambda: make_checked_env(env_id, dict(profile.env), f"{profile.path} [env]").close())
    return profile


def env_with_profile(env_id: str, base: Mapping[str, Any], profile: RobotProfile) -> dict[str, Any]:
    """A run's env kwargs ``base`` with its robot replaced by the profile's, checked: each of the
    env's ``ROBOT_KEYS`` that ``base`` sets is reset to the env's default, then the profile's
    ``[env]`` is laid over it all (for an env without ``ROBOT_KEYS``, just that)."""
    from trainer.gymenv import _accepted_keywords, make_checked_env

    parameters = _accepted_keywords(env_id) or {}
    robot = [key for key in ROBOT_KEYS.get(env_id, ()) if key in base and key in parameters]
    reference = {key: parameters[key].default for key in robot}
    merged = {**base, **reference, **profile.env}
    source = f"{profile.path} [env] over the run's env_kwargs"
    _checked(lambda: make_checked_env(env_id, merged, source).close())
    return merged


def profile_for(
    path: str | Path, env_id: str, base: Mapping[str, Any]
) -> tuple[RobotProfile, dict[str, Any]]:
    """The profile at ``path`` for ``env_id`` and the env kwargs it makes of ``base`` (a run's
    recorded ones), for evaluating or exporting a run in the env the profile describes."""
    profile = load_profile(path, env_id)
    return profile, env_with_profile(env_id, base, profile)


def instead_line(
    profile: RobotProfile, doing: str, env_kwargs: Mapping[str, Any], recorded: Mapping[str, Any]
) -> str:
    """The one line a command prints when a profile replaces a run's env."""
    return (
        f"{profile.describe()}: {doing} in env_kwargs {json.dumps(dict(env_kwargs))} instead "
        f"of the run's {json.dumps(dict(recorded))}"
    )


def _checked(check: Any) -> None:
    """Run ``check``; a ``UsageError`` from it gets the fix appended (edit the profile)."""
    try:
        check()
    except UsageError as exc:
        raise UsageError(f"{exc}; fix it in the profile's [env] table") from None


def _table(document: Mapping[str, Any], name: str, path: Path, holds: str) -> dict[str, Any]:
    """The top-level table ``[name]``, or a UsageError saying what it should hold."""
    table = document.get(name)
    if isinstance(table, dict):
        return table
    found = "no such table" if table is None else f"{name} = {_show(table)}"
    raise UsageError(
        f"{path}: expected a [{name}] table with {holds}, found {found}; add it ({_SEE})"
    )


def _check_header(header: Mapping[str, Any], path: Path) -> None:
    """``[profile]``: its keys, their types, the format and the source."""
    examples = {"format": f"format = {FORMAT}", "env_id": 'env_id = "sim2pi/ObstacleAvoid-v0"'}
    for key in REQUIRED_KEYS:
        if key not in header:
            raise UsageError(
                f"{path} [profile]: expected a key {key}, e.g. {examples[key]}, found none; "
                f"add it ({_SEE})"
            )
    for key in header:
        if key not in (*REQUIRED_KEYS, *OPTIONAL_KEYS):
            raise UsageError(
                f"{path} [profile] {key}: not a key of [profile]; expected one of "
                f"{', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)}; remove it or move it to a table "
                "of its own"
            )
    version = header["format"]
    if type(version) is not int or version != FORMAT:
        raise UsageError(
            f"{path} [profile] format: expected {FORMAT}, found {_show(version)}; this trainer "
            f"reads robot profile format {FORMAT}: write it in that format or update sim2pi"
        )
    for key in ("env_id", "name", "source"):
        if key in header and not (isinstance(header[key], str) and header[key].strip()):
            raise UsageError(
                f"{path} [profile] {key}: expected a non-empty string, found "
                f'{_show(header[key])}; quote it, e.g. {key} = "…"'
            )
    source = header.get("source", "hand")
    if source not in SOURCES:
        raise UsageError(
            f"{path} [profile] source: expected one of {', '.join(map(repr, SOURCES))}, "
            f'found {source!r}; use "hand" for a profile written by hand'
        )


def _check_booleans(profile: RobotProfile, env_id: str) -> None:
    """Refuse ``true``/``false`` for a keyword that takes no boolean (the env takes it as 1/0)."""
    from trainer.gymenv import _accepted_keywords

    parameters = _accepted_keywords(env_id) or {}
    for key, value in profile.env.items():
        parameter = parameters.get(key)
        flat = value if isinstance(value, list) else [value]
        if parameter is None or not any(isinstance(item, bool) for item in flat):
            continue
        annotation, default = str(parameter.annotation), parameter.default
        if isinstance(default, bool) or "bool" in annotation or "Any" in annotation:
            continue
        if parameter.annotation is parameter.empty and default in (None, parameter.empty):
            continue  # nothing says what it takes: the env decides
        number = isinstance(default, float | int)
        example = f", e.g. {key} = {default!r} (the env's default)" if number else ""
        raise UsageError(
            f"{profile.path} [env] {key}: expected numbers, found {_show(value)} (true/false, "
            f"which the env would take as 1/0); write the number{example}"
        )


def _show(value: Any) -> str:
    """A TOML value for a message, as JSON where it can be."""
    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)
