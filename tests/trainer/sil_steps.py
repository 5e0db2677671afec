"""A tiny Gymnasium env and bundles without motor commands for the software-in-the-loop tests.

Importing this module registers ``sim2pi-test/Steps-v0`` (and its Box twin), so a child
process can name it in a config as ``tests.trainer.sil_steps:sim2pi-test/Steps-v0``. Import it
by that name in tests too (``from tests.trainer.sil_steps import ...``), never as a top-level
module, so that it registers once.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from shared.bundle import Bundle, read_bundle, write_bundle
from shared.spec import Action, ActionTable

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "obstacle_bundle"
ENV_ID = "sim2pi-test/Steps-v0"
#: The id a config names it by in another process: the module is imported first.
IMPORTED_ENV_ID = f"tests.trainer.sil_steps:{ENV_ID}"
CHANNELS = "channels = { left_distance_m = 0, front_distance_m = 1, right_distance_m = 2 }\n"


class Steps(gym.Env):
    """Five discrete actions; reward = the action's index; episode length 3 + seed % 3."""

    def __init__(self, continuous: bool = False, length: int = 3) -> None:
        self.observation_space = gym.spaces.Box(0.0, 4.0, shape=(4,), dtype=np.float32)
        self.action_space = (
            gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
            if continuous
            else gym.spaces.Discrete(5)
        )
        self.base_length = length
        self.seeds: list[int | None] = []
        self.actions: list[Any] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.seeds.append(seed)
        self.t, self.length = 0, self.base_length + (seed or 0) % 3
        return self._obs(), {}

    def _obs(self) -> np.ndarray:
        return np.array([1.5, 1.5 - 0.1 * self.t, 1.0, 0.0], dtype=np.float32)

    def step(self, action: Any):
        self.actions.append(action)
        self.t += 1
        return self._obs(), float(action), self.t >= self.length, False, {}


gym.register(ENV_ID, entry_point=Steps)
gym.register("sim2pi-test/StepsBox-v0", entry_point=Steps, kwargs={"continuous": True})


def abstract_bundle(
    out: Path,
    *,
    names: tuple[str, ...] | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> Bundle:
    """The fixture bundle with its actions' motor commands taken away (as CartPole's have none),
    for ``ENV_ID``; ``names``: other action names; ``env_kwargs``: recorded as its run's."""
    fixture = read_bundle(FIXTURE)
    names = names or fixture.spec.actions.names
    actions = ActionTable(tuple(Action(name) for name in names))
    info = None
    if env_kwargs is not None:
        info = {"training": {"algo": "test", "config": {"env_kwargs": env_kwargs}}}
    return write_bundle(
        out,
        spec=dataclasses.replace(fixture.spec, env_id=ENV_ID, actions=actions),
        files={name: fixture.file(name) for name in fixture.manifest["files"]},
        models=dict(fixture.models),
        discretizer=fixture.discretizer,
        qtable_file=fixture.qtable_file,
        info=info,
    )


def gym_config(
    path: Path, bundle: Bundle, extra: str = "", *, env_id: str = ENV_ID, gym_extra: str = ""
) -> Path:
    """A config at ``path`` running ``bundle``'s Q-table on ``env_id``; ``gym_extra`` goes into
    ``[hardware.gym]``, ``extra`` after it."""
    path.write_text(
        f"[bundle]\npath = {json.dumps(str(bundle.path))}\npolicy = 'qtable'\n"
        "[hardware]\nbackend = 'gym'\n"
        f"[hardware.gym]\nenv_id = '{env_id}'\n" + CHANNELS + gym_extra + extra
    )
    return path
