"""``python -m robot check|run`` on a bundle whose files are not what they should be: one line
naming the file, exit 2, no traceback, and the backend (the motors) never opened.

Each case is a real file in a copy of the fixture bundle: a FIFO, a symlink to ``/dev/zero``, a
sparse 200 MiB manifest, a manifest nested 200,000 deep, a ``qtable.npy`` whose header claims
(10**11, 5) with its checksum updated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from robot.cli.exit_codes import EXIT_USAGE
from tests.robot.conftest import FIXTURE_BUNDLE, example
from tests.shared.test_bundle_files import copy_bundle, npy_claiming, rehash

ROOT = Path(__file__).resolve().parents[3]


def _damage(bundle: Path, case: str) -> tuple[Path, str]:
    """Damage ``bundle`` as ``case`` says; the file to be named and what must be said of it."""
    manifest, model = bundle / "manifest.json", bundle / "policy.tflite"
    if case == "manifest-fifo":
        manifest.unlink()
        os.mkfifo(manifest)
        return manifest, "expected a bundle manifest (a regular file), found a FIFO (named pipe)"
    if case == "manifest-200MiB":
        with manifest.open("r+b") as sparse:
            sparse.truncate(200 * 1024 * 1024)
        return manifest, "200.0 MiB (209,715,200 bytes), over the 4 MiB limit for a bundle"
    if case == "manifest-deep":
        manifest.write_text("[" * 200_000 + "]" * 200_000)
        return manifest, "arrays or tables nested 200000 deep, over the limit of 64"
    if case == "model-dev-zero":
        model.unlink()
        model.symlink_to("/dev/zero")
        return model, "found a character device (/dev/zero, through a symlink)"
    (bundle / "qtable.npy").write_bytes(npy_claiming((10**11, 5), data=b"\0" * 64))
    rehash(bundle)
    return bundle / "qtable.npy", "expected shape (125, 5) (states of the discretizer"


@pytest.mark.skipif(os.name != "posix", reason="FIFOs and /dev/zero are POSIX")
@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "case"),
    [
        ("check", "manifest-fifo"),
        ("run", "manifest-200MiB"),
        ("check", "manifest-deep"),
        ("run", "model-dev-zero"),
        ("check", "qtable-3.6TiB"),
        ("run", "qtable-3.6TiB"),
    ],
)
def test_one_line_exit_2_and_no_motor(tmp_path: Path, command: str, case: str) -> None:
    bundle = copy_bundle(tmp_path)
    named, said = _damage(bundle, case)
    policy = ('policy = "tflite"', 'policy = "qtable"') if case.startswith("qtable") else ("", "")
    config = example(
        tmp_path,
        "reference_sim.toml",
        (json.dumps(str(FIXTURE_BUNDLE)), json.dumps(str(bundle))),
        *([policy] if policy[0] else []),
    )
    env = {**os.environ, "SIM2PI_STATE_DIR": str(tmp_path / "state")}
    env.pop("STATE_DIRECTORY", None)
    extra = ["--max-ticks", "5"] if command == "run" else []
    result = subprocess.run(
        [sys.executable, "-m", "robot", command, "--config", str(config), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, result.stderr
    assert f"{named}: " in errors[0] and said in errors[0], errors[0]
    assert "drive: left forward=" not in result.stderr + result.stdout  # no backend opened
