"""The dependency rule: robot/ and shared/ never import the trainer's heavy packages.

Two checks. At run time, every module of ``robot/`` and ``shared/`` is imported in a fresh
interpreter in which tensorflow, keras, gymnasium, gym and torch cannot be imported; any attempt
fails the test. Statically, every import statement in their source, also those inside functions
(a lazy import runs only on some path), must name none of those packages nor ``trainer``.
"""

from __future__ import annotations

import ast
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


def static_violations(
    root: Path,
    packages: tuple[str, ...],
    banned: frozenset[str] = frozenset({*FORBIDDEN, "trainer", "bench"}),
) -> list[str]:
    """``file:line imports name`` for each import statement of a ``banned`` package, anywhere."""
    found: list[tuple[str, int, str]] = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    if name.split(".")[0] in banned:
                        found.append((str(path.relative_to(root)), node.lineno, name))
    return [f"{file}:{line} imports {name}" for file, line, name in sorted(found)]


def test_no_import_statement_names_a_forbidden_package_even_lazily() -> None:
    assert static_violations(ROOT, ("shared", "robot")) == []


def test_no_installed_package_imports_the_benchmarks() -> None:
    # bench/ is lab code: run from a checkout, never installed or deployed.
    assert static_violations(ROOT, ("shared", "robot", "trainer"), frozenset({"bench"})) == []


def test_the_static_check_catches_a_lazy_import(tmp_path: Path) -> None:
    package = tmp_path / "robot"
    package.mkdir()
    (package / "ok.py").write_text("import numpy\nfrom shared import spec\n")
    (package / "lazy.py").write_text(
        "def world():\n    try:\n        import gymnasium as gym\n    except ImportError:\n"
        "        gym = None\n    from trainer.envs import x\n    return gym, x\n"
    )
    assert static_violations(tmp_path, ("robot",)) == [
        "robot/lazy.py:3 imports gymnasium",
        "robot/lazy.py:6 imports trainer.envs",
    ]
