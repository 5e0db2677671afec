"""SPEC.toml: what a sweep trains, read once and checked key by key (``load_spec``).

A sweep is every combination of one *setting* (hyperparameters from ``[grid]`` or ``[random]``,
one ``[[env_args]]`` variant, one ``robot_profiles`` entry) with every seed. The format, with a
complete example, is in docs/sweeps.md; ``trainer/sweeps/cartpole_seeds.toml`` is one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.errors import UsageError
from trainer.hyperparams import ALGOS, CONFIG_CLASSES
from trainer.sweep.checks import (
    DEFAULT_ARENA_EPISODES,
    check_whole,
    checked_seeds,
    first_repeat,
    ranking_episodes,
)

SEARCHES = ("grid", "random")
SCHEDULERS = ("fifo", "asha")
CHECKPOINTS = ("best", "last")
DISTRIBUTIONS = ("choice", "uniform", "loguniform")
#: Every top-level key of SPEC.toml and what it holds (the error for an unknown key lists them).
KEYS = {
    "env": "Gymnasium env id, e.g. 'CartPole-v1'",
    "algo": f"one of {ALGOS}",
    "preset": "'ENV:ALGO' instead of env and algo, e.g. 'CartPole-v1:dqn'",
    "steps": "env steps per trial (default: the preset's total_steps)",
    "seeds": "a list of training seeds, or a count n for seeds 0..n-1",
    "search": f"one of {SEARCHES} (default: 'random' when [random] is given, else 'grid')",
    "samples": "random search: how many settings to draw",
    "sample_seed": "random search: the seed of the draws (default 0)",
    "scheduler": f"one of {SCHEDULERS} (default 'fifo': every trial runs to its end)",
    "asha": "table: grace_steps (default 10000), reduction_factor (default 2)",
    "rank_episodes": "episodes per trial on the ranking seeds (default 20)",
    "rank_arena_episodes": "sim2pi/ObstacleAvoid-v0 only: ranking episodes in each arena of the "
    f"arena suite (default {DEFAULT_ARENA_EPISODES})",
    "rank_checkpoint": f"one of {CHECKPOINTS}: which checkpoint is ranked (default 'best')",
    "grid": "table: hyperparameter -> list of values (every combination is a setting)",
    "random": "table: hyperparameter -> {choice = [...]} | {uniform = [lo, hi]} | "
    "{loguniform = [lo, hi]}",
    "env_args": "array of tables ([[env_args]]): env keyword-argument variants",
    "robot_profiles": "list of robot-profile TOML files (relative to the spec)",
}


class SpecError(UsageError):
    """A SPEC.toml that cannot be swept: file, key, expected, found and the fix."""


@dataclass(frozen=True)
class Distribution:
    """How random search draws one hyperparameter."""

    kind: str  # choice | uniform | loguniform
    values: tuple[Any, ...]  # choice: the options; uniform/loguniform: (low, high)


@dataclass(frozen=True)
class AshaConfig:
    """ASHA early stopping: trials judged on their selection score at env-step rungs."""

    grace_steps: int = 10_000
    reduction_factor: int = 2


@dataclass(frozen=True)
class SweepSpec:
    """A checked SPEC.toml."""

    path: Path
    env_id: str
    algo: str
    seeds: tuple[int, ...]
    steps: int | None = None
    search: str = "grid"
    grid: dict[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    random: dict[str, Distribution] = dataclasses.field(default_factory=dict)
    samples: int = 1
    sample_seed: int = 0
    env_args: tuple[dict[str, Any], ...] = ({},)
    robot_profiles: tuple[Path | None, ...] = (None,)
    scheduler: str = "fifo"
    asha: AshaConfig = AshaConfig()
    #: the episodes each ranked checkpoint plays: the spec's, or on the arena suite
    #: (sim2pi/ObstacleAvoid-v0) every arena's, len(SUITE) × rank_arena_episodes
    rank_episodes: int = 20
    rank_checkpoint: str = "best"
    #: episodes in each arena of the suite (sim2pi/ObstacleAvoid-v0), else None
    rank_arena_episodes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, recorded in the sweep directory and compared on ``--resume``."""
        data = dataclasses.asdict(self)
        data["path"] = str(self.path)
        # Relative to the spec (a moved sweep resumes); the sha256 makes an edit another sweep.
        folder = self.path.resolve().parent
        data["robot_profiles"] = [None if p is None else {"path": os.path.relpath(p, folder),
            "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
            for p in self.robot_profiles]  # fmt: skip
        data["random"] = {k: {d.kind: list(d.values)} for k, d in self.random.items()}
        data["grid"] = {k: list(v) for k, v in self.grid.items()}
        data["seeds"] = list(self.seeds)
        data["env_args"] = list(self.env_args)
        return data


class _Checker:
    """Reads keys of one file, raising a ``SpecError`` that names file and key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, expected: str, found: Any, fix: str) -> SpecError:
        return SpecError(f"{self.path}: {key}: expected {expected}, found {found!r}; {fix}")

    def integer(self, key: str, value: Any, low: int, high: int | None = None) -> int:
        number = isinstance(value, int) and not isinstance(value, bool)
        if number and low <= value <= (value if high is None else high):
            return value
        expected = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
        raise self.fail(key, expected, value, f"e.g. {key} = {max(low, 1)}")

    def choice(self, key: str, value: Any, options: tuple[str, ...]) -> str:
        if value not in options:
            raise self.fail(key, f"one of {options}", value, f"e.g. {key} = {options[0]!r}")
        return str(value)

    def table(self, key: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "a table", value, f"write it as [{key}]")
        return value


def _hyperparameter(check: _Checker, key: str, name: str, algo: str) -> None:
    fields = {f.name for f in dataclasses.fields(CONFIG_CLASSES[algo])}
    if name not in fields:
        raise check.fail(
            f"{key}.{name}",
            f"a hyperparameter of {algo} ({', '.join(sorted(fields))})",
            name,
            "see `python -m trainer train --help` for the names",
        )


def _distribution(check: _Checker, key: str, value: Any) -> Distribution:
    example = "e.g. {loguniform = [1e-4, 1e-2]} or {choice = [64, 128]}"
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in DISTRIBUTIONS:
        raise check.fail(key, f"a table with one key of {DISTRIBUTIONS}", value, example)
    kind, args = next(iter(value.items()))
    if not isinstance(args, list) or not args:
        raise check.fail(f"{key}.{kind}", "a non-empty list", args, example)
    if kind != "choice":
        numbers = all(isinstance(a, int | float) and not isinstance(a, bool) for a in args)
        if len(args) != 2 or not numbers or not args[0] < args[1]:
            raise check.fail(f"{key}.{kind}", "[low, high] with low < high", args, example)
        if not all(math.isfinite(a) for a in args):
            raise check.fail(f"{key}.{kind}", "finite bounds", args, example)
        if kind == "loguniform" and args[0] <= 0:
            raise check.fail(f"{key}.{kind}", "a positive low", args[0], "e.g. [1e-4, 1e-2]")
        args = [float(a) for a in args]
    return Distribution(kind, tuple(args))


def _read(path: Path) -> dict[str, Any]:
    """The TOML table of ``path``, its top-level keys known."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(
            f"{path}: no such file; pass a sweep spec, e.g. trainer/sweeps/cartpole_seeds.toml"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    except OSError as exc:  # a directory, no permission
        raise SpecError(
            f"{path}: cannot read the spec ({exc.strerror}); pass a .toml file"
        ) from None
    for key in data:
        if key not in KEYS:
            raise _Checker(path).fail(key, "a key of " + ", ".join(KEYS), key, "remove it")
    return data


def _env_algo(check: _Checker, data: dict[str, Any]) -> tuple[str, str]:
    """``env`` and ``algo``, or both from ``preset = 'ENV:ALGO'``."""
    if "preset" in data:
        if "env" in data or "algo" in data:
            raise check.fail("preset", "either preset or env and algo", data["preset"], "drop one")
        env_id, sep, algo = str(data["preset"]).rpartition(":")
        if not sep or not env_id:
            raise check.fail("preset", "'ENV:ALGO'", data["preset"], "e.g. 'CartPole-v1:dqn'")
    else:
        env_id, algo = data.get("env"), data.get("algo")
        if not isinstance(env_id, str) or not env_id:
            raise check.fail("env", "a Gymnasium env id", env_id, "e.g. env = 'CartPole-v1'")
    return env_id, check.choice("algo", algo, ALGOS)


def _search(check: _Checker, data: dict[str, Any], algo: str) -> dict[str, Any]:
    """``[grid]``, ``[random]``, ``search``, ``samples``, ``sample_seed``."""
    grid = check.table("grid", data.get("grid", {}))
    for name, values in grid.items():
        _hyperparameter(check, "grid", name, algo)
        if not isinstance(values, list) or not values:
            raise check.fail(f"grid.{name}", "a non-empty list of values", values,
                             f"e.g. {name} = [value1, value2]")  # fmt: skip
        if first_repeat(values) is not None:
            raise check.fail(f"grid.{name}", "distinct values", values, "drop the repeated one")
    random = check.table("random", data.get("random", {}))
    fields: dict[str, Any] = {"grid": {k: tuple(v) for k, v in grid.items()}, "random": {}}
    for name, value in random.items():
        _hyperparameter(check, "random", name, algo)
        if name in grid:
            raise check.fail(f"random.{name}", "a name not also in [grid]", name, "keep one")
        fields["random"][name] = _distribution(check, f"random.{name}", value)
    search = check.choice("search", data.get("search", "random" if random else "grid"), SEARCHES)
    fields["search"] = search
    if search == "random":
        fields["samples"] = check.integer("samples", data.get("samples"), 1)
        fields["sample_seed"] = check.integer("sample_seed", data.get("sample_seed", 0), 0)
    elif random or "samples" in data or "sample_seed" in data:
        raise check.fail("search", "'random' with [random], samples or sample_seed", search,
                         "set search = 'random', or move the values to [grid]")  # fmt: skip
    return fields


def _variants(check: _Checker, data: dict[str, Any]) -> dict[str, Any]:
    """``[[env_args]]`` and ``robot_profiles`` (resolved against the spec's folder)."""
    variants = data.get("env_args", [{}])
    if not (isinstance(variants, list) and variants and all(
        isinstance(v, dict) and all(k.isidentifier() for k in v) for v in variants
    )):  # fmt: skip
        raise check.fail("env_args", "an array of tables of keyword arguments", variants,
                         "write each variant as [[env_args]] with key = value lines")  # fmt: skip
    if first_repeat(variants) is not None:
        raise check.fail("env_args", "distinct variants", first_repeat(variants),
                         "drop the repeated [[env_args]] table")  # fmt: skip
    fields: dict[str, Any] = {"env_args": tuple(variants)}
    profiles = data.get("robot_profiles")
    if profiles is None:
        return fields
    if not (isinstance(profiles, list) and profiles and all(isinstance(p, str) for p in profiles)):
        raise check.fail("robot_profiles", "a non-empty list of file names", profiles,
                         "e.g. robot_profiles = ['profiles/my_robot.toml']")  # fmt: skip
    resolved = tuple((check.path.parent / p).resolve() for p in profiles)
    for name, file in zip(profiles, resolved, strict=True):
        if not file.is_file():
            raise check.fail("robot_profiles", "existing files (relative to the spec)", name,
                             f"no such file: {file}")  # fmt: skip
    if len(set(resolved)) != len(resolved):
        raise check.fail("robot_profiles", "distinct files", profiles, "drop the repeated one")
    fields["robot_profiles"] = resolved
    return fields


def _ranking(check: _Checker, data: dict[str, Any], env_id: str) -> dict[str, Any]:
    """``scheduler``, ``[asha]``, ``rank_checkpoint``, ``rank_episodes`` or
    ``rank_arena_episodes``."""
    asha = check.table("asha", data.get("asha", {}))
    for key in asha:
        if key not in ("grace_steps", "reduction_factor"):
            raise check.fail(f"asha.{key}", "grace_steps or reduction_factor", key, "remove it")
    return {
        "scheduler": check.choice("scheduler", data.get("scheduler", "fifo"), SCHEDULERS),
        "asha": AshaConfig(
            check.integer("asha.grace_steps", asha.get("grace_steps", 10_000), 1),
            check.integer("asha.reduction_factor", asha.get("reduction_factor", 2), 2),
        ),
        "rank_checkpoint": check.choice(
            "rank_checkpoint", data.get("rank_checkpoint", "best"), CHECKPOINTS
        ),
    } | ranking_episodes(check, data, env_id)


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check SPEC.toml; ``SpecError`` names the first bad key."""
    path = Path(path)
    check = _Checker(path)
    data = _read(path)
    env_id, algo = _env_algo(check, data)
    fields: dict[str, Any] = {"path": path, "env_id": env_id, "algo": algo}
    fields["seeds"] = checked_seeds(check, data.get("seeds", 1))
    if "steps" in data:
        fields["steps"] = check.integer("steps", data["steps"], 1)
    fields |= _search(check, data, algo) | _variants(check, data) | _ranking(check, data, env_id)
    spec = SweepSpec(**fields)
    check_whole(check, spec, "env" if "env" in data else "preset")
    return spec
