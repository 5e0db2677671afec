"""Helpers of the sweep tests: specs written into tmp_path, ``python -m trainer`` as a child."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
#: A CartPole DQN trial of 2,000 env steps (the preset otherwise): a few seconds of training.
TINY = """
preset = "CartPole-v1:dqn"
steps = 2000
rank_episodes = 5
"""


def write_spec(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    """``text`` as a spec file in ``tmp_path``."""
    path = tmp_path / name
    path.write_text(text)
    return path


def trainer_env() -> dict[str, str]:
    """The environment of a ``python -m trainer`` child: quiet TensorFlow, this checkout."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}


def trainer(
    *args: str, timeout: float = 240, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m trainer ARGS`` to its end (``env`` added to its environment)."""
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**trainer_env(), **(env or {})},
    )
