"""Without Ray, ``trainer sweep`` says how to install it and exits 2; the rest does not need it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT, trainer_env

pytestmark = pytest.mark.trainer

BLOCK_RAY = textwrap.dedent(
    """
    import sys

    class NoRay:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "ray":
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, NoRay())
    sys.argv = ["trainer", *sys.argv[1:]]
    from trainer.cli.main import main
    code = main(sys.argv[1:])
    assert "ray" not in sys.modules
    sys.exit(code)
    """
)


def test_sweep_without_ray_prints_the_install_command_and_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_RAY, "sweep", "trainer/sweeps/cartpole_seeds.toml"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=trainer_env(), check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        "python -m trainer sweep: needs Ray Tune; install it with: "
        "pip install -r requirements-sweep.txt\n"
    )


def test_the_other_commands_work_without_ray() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_RAY, "train", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=trainer_env(), check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "--env-arg" in done.stdout
