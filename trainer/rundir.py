"""A run directory: everything one training run wrote, readable without the code that wrote it.

Layout (``runs/{env-slug}__{algo}__s{seed}__{YYYYmmdd-HHMMSS}/``)::

    config.json        algo, env_id, seed, env_kwargs (--env-arg), hyperparameters, eval_seeds,
                       final_eval_seeds; robot_profile (path, sha256, name, source, env) when
                       trained with --robot-profile
    versions.json      Python, numpy, TensorFlow, Keras, Gymnasium, sim2pi versions
    spec.json          the TaskSpec (observation channels + normalisation, actions, reward)
    discretizer.json   qlearning only: the grid of states
    metrics.csv        one row per evaluation (step, seconds, ε, α/lr, loss, returns)
    tb/                TensorBoard events
    learning_curve.png episode returns and greedy evaluations against env steps
    summary.json       best and last checkpoints with their final greedy evaluation
    checkpoints/best/  dqn: model.keras; qlearning: qtable.npy, discretizer.json; + meta.json
    checkpoints/last/  the same plus state.pkl (optimiser, target net, replay buffer, envs, RNG)

The exporter and ``eval`` read it through ``RunDir``::

    run = RunDir("runs/CartPole-v1__dqn__s0__20261124-153000")
    run.spec, run.config, run.algo, run.env_id, run.seed, run.eval_seeds, run.discretizer
    model = run.load_keras_model("best")    # input: spec.observation.normalize(raw_obs)
    table = run.load_qtable("best")         # (discretizer.n_states, n_actions)
    act = run.greedy_policy("best")         # raw observation -> action index
    env = run.make_env(render_mode="rgb_array")
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import platform
import re
import zipfile
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from shared.discretize import Discretizer
from shared.spec import TaskSpec
from trainer.errors import RunDirError

CHECKPOINTS = ("best", "last")


def run_name(env_id: str, algo: str, seed: int, now: _dt.datetime | None = None) -> str:
    """``{env-slug}__{algo}__s{seed}__{YYYYmmdd-HHMMSS}``; the slug keeps [A-Za-z0-9.-]."""
    slug = re.sub(r"[^A-Za-z0-9.-]+", "-", env_id).strip("-")
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return f"{slug}__{algo}__s{seed}__{stamp}"


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a trained policy."""
    import importlib.metadata as md

    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("sim2pi", "numpy", "tensorflow", "tensorflow-cpu", "keras", "gymnasium"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            continue
    return versions


def weights_digest(checkpoint: Path) -> str:
    """The SHA-256 of a checkpoint directory's numbers, not of its files (a ``.keras`` file
    carries its save time): the weights in ``model.keras``, else every ``*.npy`` array file.
    Two checkpoints with one digest act alike."""
    digest = hashlib.sha256()
    if (checkpoint / "model.keras").is_file():
        import h5py

        weights = zipfile.ZipFile(checkpoint / "model.keras").read("model.weights.h5")
        arrays: list[bytes] = []
        with h5py.File(io.BytesIO(weights), "r") as f:
            f.visititems(
                lambda name, obj: (
                    arrays.append(name.encode() + np.asarray(obj).tobytes())
                    if isinstance(obj, h5py.Dataset)
                    else None
                )
            )
        digest.update(b"".join(sorted(arrays)))
    else:
        for path in sorted(checkpoint.glob("*.npy")):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON atomically (temp file + rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def add_to_config(path: Path, key: str, value: Any) -> None:
    """Record one more entry in a run's config.json (e.g. ``robot_profile``), atomically."""
    file = Path(path) / "config.json"
    write_json(file, {**json.loads(file.read_text()), key: value})


class RunDir:
    """Read access to a run directory written by ``python -m trainer train``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / "config.json").is_file():
            raise RunDirError(
                f"{self.path}: not a run directory (no config.json); "
                "pass a directory made by `python -m trainer train`, e.g. runs/CartPole-v1__dqn__…"
            )

    def _json(self, name: str) -> Any:
        file = self.path / name
        try:
            return json.loads(file.read_text())
        except FileNotFoundError:
            raise RunDirError(f"{file}: missing; the run directory is incomplete") from None
        except json.JSONDecodeError as exc:
            raise RunDirError(f"{file}: not valid JSON ({exc})") from None

    @cached_property
    def config(self) -> dict[str, Any]:
        """config.json: algo, env_id, seed, env_kwargs, hyperparameters, eval seeds."""
        return self._json("config.json")

    @property
    def robot_profile(self) -> dict[str, Any] | None:
        """The robot profile the run was trained with (path, sha256, name, source, env), or None."""
        return self.config.get("robot_profile")

    @property
    def algo(self) -> str:
        """``dqn`` or ``qlearning``."""
        return str(self.config["algo"])

    @property
    def env_id(self) -> str:
        """The Gymnasium env id trained on."""
        return str(self.config["env_id"])

    @property
    def seed(self) -> int:
        """The training seed."""
        return int(self.config["seed"])

    @property
    def eval_seeds(self) -> list[int]:
        """Reset seeds of the periodic evaluation episodes."""
        return [int(s) for s in self.config["eval_seeds"]]

    @property
    def final_eval_seeds(self) -> list[int]:
        """Reset seeds of the final evaluation episodes."""
        return [int(s) for s in self.config["final_eval_seeds"]]

    @cached_property
    def spec(self) -> TaskSpec:
        """The task spec (spec.json)."""
        return TaskSpec.from_dict(self._json("spec.json"), where=str(self.path / "spec.json"))

    @cached_property
    def discretizer(self) -> Discretizer | None:
        """The Q-table's grid (qlearning runs), else None."""
        if not (self.path / "discretizer.json").is_file():
            return None
        return Discretizer.from_dict(self._json("discretizer.json"))

    @property
    def summary(self) -> dict[str, Any]:
        """summary.json: best and last checkpoint evaluations (after the run finished)."""
        return self._json("summary.json")

    def checkpoint(self, which: str = "best") -> Path:
        """The directory of checkpoint ``best`` or ``last``."""
        if which not in CHECKPOINTS:
            raise RunDirError(f"checkpoint: expected one of {CHECKPOINTS}, found {which!r}")
        path = self.path / "checkpoints" / which
        if not path.is_dir():
            raise RunDirError(f"{path}: missing; the run saved no {which!r} checkpoint yet")
        return path

    def load_keras_model(self, which: str = "best") -> Any:
        """The DQN online network of a checkpoint (input: normalised observation)."""
        import keras

        file = self.checkpoint(which) / "model.keras"
        if not file.is_file():
            raise RunDirError(f"{file}: missing; is this a dqn run? (algo is {self.algo!r})")
        return keras.models.load_model(file, compile=False)

    def load_qtable(self, which: str = "best") -> np.ndarray:
        """The Q-table (n_states, n_actions) of a checkpoint."""
        file = self.checkpoint(which) / "qtable.npy"
        if not file.is_file():
            raise RunDirError(f"{file}: missing; is this a qlearning run? (algo is {self.algo!r})")
        return np.load(file)

    def greedy_policy(self, which: str = "best") -> Callable[[Any], int]:
        """``act(raw_obs) -> action index`` of a checkpoint, as training evaluated it."""
        obs_spec = self.spec.observation
        if self.algo == "dqn":
            from trainer.qnetwork import NumpyMLP

            network = NumpyMLP.from_model(self.load_keras_model(which))
            return lambda raw: int(np.argmax(network(obs_spec.normalize(raw))))
        table, grid = self.load_qtable(which), self.discretizer
        if grid is None:
            raise RunDirError(f"{self.path}/discretizer.json: missing for a qlearning run")
        return lambda raw: int(np.argmax(table[grid.index(np.atleast_1d(np.asarray(raw, float)))]))

    def make_env(self, **kwargs: Any) -> Any:
        """A fresh env of the run's id (kwargs go to ``gym.make``, e.g. render_mode)."""
        from trainer.gymenv import make_env

        return make_env(self.env_id, **{**self.config.get("env_kwargs", {}), **kwargs})
