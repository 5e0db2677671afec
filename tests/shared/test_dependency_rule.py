"""The dependency rule: robot/ and shared/ never import the trainer's heavy packages.

Two checks. At run time, every module of ``robot/`` and ``shared/`` is imported in a fresh
interpreter in which tensorflow, keras, gymnasium, gym and torch cannot be imported; any attempt
fails the test. Statically, every import statement in their source, also those inside functions
(a lazy import runs only on some path), must name none of those packages nor ``trainer``.
Statically too: nothing installed imports ``bench/``, and ``trainer/`` imports from ``robot/``
only the modules of ``robot.TRAINER_SURFACE``.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot import TRAINER_SURFACE

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


def import_statements(root: Path, packages: tuple[str, ...]) -> Iterator[tuple[str, int, str]]:
    """``(file, line, module)`` for each module an import statement imports, lazy ones too.

    ``from a.b import c`` imports ``a.b.c`` when that is a module under ``root``, else ``a.b``.
    Relative imports stay inside their own package and are skipped.
    """
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            file = str(path.relative_to(root))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        yield file, node.lineno, alias.name
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    for alias in node.names:
                        yield file, node.lineno, _from_import(root, node.module, alias.name)


def _from_import(root: Path, module: str, name: str) -> str:
    """The module ``from module import name`` imports: ``module.name`` if that is a module."""
    folder = root.joinpath(*module.split("."))
    is_module = (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file()
    return f"{module}.{name}" if is_module else module


def static_violations(
    root: Path,
    packages: tuple[str, ...],
    banned: frozenset[str] = frozenset({*FORBIDDEN, "trainer", "bench"}),
) -> list[str]:
    """``file:line imports name`` for each import statement of a ``banned`` package, anywhere."""
    found = {
        (file, line, name)
        for file, line, name in import_statements(root, packages)
        if name.split(".")[0] in banned
    }
    return [f"{file}:{line} imports {name}" for file, line, name in sorted(found)]


def surface_violations(
    root: Path, packages: tuple[str, ...] = ("trainer",), surface: tuple[str, ...] = TRAINER_SURFACE
) -> list[str]:
    """``file:line imports name`` for each import of a ``robot`` module outside ``surface``."""
    found = {
        (file, line, name)
        for file, line, name in import_statements(root, packages)
        if name.split(".")[0] == "robot" and name not in surface
    }
    return [
        f"{file}:{line} imports {name}, outside robot.TRAINER_SURFACE"
        for file, line, name in sorted(found)
    ]


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


def test_the_trainer_imports_robot_only_through_its_declared_surface() -> None:
    assert surface_violations(ROOT) == []


def test_the_surface_check_catches_an_import_outside_it(tmp_path: Path) -> None:
    for module in ("robot/inference/policy.py", "robot/runtime/compose.py", "robot/cli/bench.py"):
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / module).write_text("")
    (tmp_path / "robot" / "cli" / "__init__.py").write_text("")
    trainer = tmp_path / "trainer"
    trainer.mkdir()
    (trainer / "ok.py").write_text(
        "import robot.errors\nfrom robot.inference import load_policy\nfrom robot import cli\n"
        "from robot.hardware import Hardware\n"
    )
    (trainer / "sneaky.py").write_text(
        "from robot.inference.policy import load_policy\n"
        "def main():\n    from robot.runtime.compose import register_backend\n"
        "    from robot.inference import policy\n    import robot.cli.bench\n"
        "    from robot import TRAINER_SURFACE\n"
    )
    assert surface_violations(tmp_path) == [
        f"trainer/sneaky.py:{line} imports {name}, outside robot.TRAINER_SURFACE"
        for line, name in [
            (1, "robot.inference.policy"),
            (3, "robot.runtime.compose"),
            (4, "robot.inference.policy"),
            (5, "robot.cli.bench"),
            (6, "robot"),
        ]
    ]


@pytest.mark.parametrize("module", TRAINER_SURFACE)
def test_each_surface_module_imports_and_exports_what_it_declares(module: str) -> None:
    imported = importlib.import_module(module)
    for name in getattr(imported, "__all__", ()):
        assert getattr(imported, name) is not None, f"{module}.{name}"
