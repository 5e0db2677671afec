"""The dependency rule: robot/ and shared/ never import the trainer's heavy packages.

Every module of ``robot/`` and ``shared/`` is imported in a fresh interpreter in which
tensorflow, keras, gymnasium, gym and torch cannot be imported; any attempt fails the test.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("tensorflow", "keras", "gymnasium", "gym", "torch")

_CHECKER = textwrap.dedent(
    """
    import importlib, pkgutil, sys, traceback

    forbidden = set(sys.argv[2].split(","))
    attempts = []

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in forbidden:
                attempts.append((name, importing))
                raise ImportError(f"the dependency rule forbids importing {name!r}")
            return None

    sys.meta_path.insert(0, Refuse())
    importing = None
    failures = []
    for package in sys.argv[1].split(","):
        importing = package
        mod = importlib.import_module(package)
        for info in pkgutil.walk_packages(mod.__path__, prefix=package + "."):
            importing = info.name
            try:
                importlib.import_module(info.name)
            except Exception:
                failures.append((info.name, traceback.format_exc(limit=1)))
    for name, module in attempts:
        print(f"FORBIDDEN: {module} imports {name}")
    for module, tb in failures:
        print(f"FAILED: {module}: {tb}")
    sys.exit(1 if attempts or failures else 0)
    """
)


def check_imports(root: Path, packages: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """Import every module of ``packages`` under ``root`` with the forbidden packages refused."""
    return subprocess.run(
        [sys.executable, "-c", _CHECKER, ",".join(packages), ",".join(FORBIDDEN)],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_robot_and_shared_import_nothing_forbidden() -> None:
    result = check_imports(ROOT, ("shared", "robot"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    # A copy of a package with one module that imports tensorflow must fail the rule.
    package = tmp_path / "shared"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "innocent.py").write_text("import numpy\n")
    (package / "sneaky.py").write_text("import tensorflow as tf\n")
    result = check_imports(tmp_path, ("shared",))
    assert result.returncode == 1
    assert "FORBIDDEN: shared.sneaky imports tensorflow" in result.stdout
    assert "innocent" not in result.stdout
