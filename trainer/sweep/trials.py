"""The trials of a sweep: settings × seeds, each with the ``trainer train`` argv that makes it.

A *setting* is one combination of hyperparameters (``--set``), env keyword arguments
(``--env-arg``) and robot profile (``--robot-profile``); a *trial* is a setting with one seed. The
list is a pure function of the spec (random search draws from ``sample_seed``), so a resumed
sweep finds the same trials under the same names.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer.sweep.spec import Distribution, SweepSpec


@dataclass(frozen=True)
class Setting:
    """One point of the search: hyperparameters, env kwargs, robot profile."""

    index: int
    hyperparameters: dict[str, Any]
    env_args: dict[str, Any]
    robot_profile: Path | None

    @property
    def label(self) -> str:
        """A short readable name, e.g. ``learning_rate=0.001 motor_gain=0.6``."""
        parts = [f"{k}={_text(v)}" for k, v in self.hyperparameters.items()]
        parts += [f"{k}={json.dumps(v)}" for k, v in self.env_args.items()]
        if self.robot_profile is not None:
            parts.append(f"profile={self.robot_profile.stem}")
        return " ".join(parts) or "preset"


@dataclass(frozen=True)
class Trial:
    """One training run of the sweep."""

    name: str  # directory name under DIR/trials/, e.g. "t03__s1"
    setting: Setting
    seed: int


def _text(value: Any) -> str:
    """A hyperparameter value as ``--set`` reads it (lists comma-separated, bools lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_text(v) for v in value)
    return str(value)


def _draw(dist: Distribution, rng: np.random.Generator) -> Any:
    """One value of ``dist``; floats kept to 6 significant digits so labels stay readable."""
    if dist.kind == "choice":
        return dist.values[int(rng.integers(len(dist.values)))]
    low, high = dist.values
    if dist.kind == "loguniform":
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high)
    return float(f"{value:.6g}")


def hyperparameter_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """The hyperparameter combinations: the grid's product, or ``samples`` random draws."""
    if spec.search == "random":
        rng = np.random.default_rng(spec.sample_seed)
        points = []
        for _ in range(spec.samples):
            point = {name: _draw(dist, rng) for name, dist in spec.random.items()}
            points.append(point | {k: v[int(rng.integers(len(v)))] for k, v in spec.grid.items()})
        return points
    names = list(spec.grid)
    return [
        dict(zip(names, values, strict=True)) for values in itertools.product(*spec.grid.values())
    ]


def settings(spec: SweepSpec) -> list[Setting]:
    """Every setting of the sweep, numbered in a fixed order."""
    combos = itertools.product(hyperparameter_points(spec), spec.env_args, spec.robot_profiles)
    return [Setting(i, dict(h), dict(e), p) for i, (h, e, p) in enumerate(combos)]


def trials(spec: SweepSpec) -> list[Trial]:
    """Every trial: each setting with each seed."""
    return [
        Trial(f"t{s.index:02d}__s{seed}", s, seed) for s in settings(spec) for seed in spec.seeds
    ]


def train_argv(spec: SweepSpec, trial: Trial, run_dir: Path) -> list[str]:
    """The ``python -m trainer`` argv that trains ``trial`` into ``run_dir``."""
    argv = ["train", "--env", spec.env_id, "--algo", spec.algo, "--seed", str(trial.seed)]
    if spec.steps is not None:
        argv += ["--steps", str(spec.steps)]
    for name, value in trial.setting.hyperparameters.items():
        argv += ["--set", f"{name}={_text(value)}"]
    for name, value in trial.setting.env_args.items():
        argv += ["--env-arg", f"{name}={json.dumps(value)}"]
    if trial.setting.robot_profile is not None:
        argv += ["--robot-profile", str(trial.setting.robot_profile)]
    return [*argv, "--out", str(run_dir), "--quiet"]
