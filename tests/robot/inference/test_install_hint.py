"""What a robot without a TFLite runtime is told to install, per platform (pure function)."""

from __future__ import annotations

import pytest

from robot.inference.tflite_runtimes import install_hint


@pytest.mark.parametrize(
    ("machine", "bits", "python", "expected"),
    [
        ("aarch64", 64, (3, 13), "pip install ai-edge-litert"),
        ("x86_64", 64, (3, 11), "pip install ai-edge-litert"),
        ("armv7l", 32, (3, 11), "tflite-runtime==2.14.*"),
        # 32-bit Pi OS on a Pi 4/5's default 64-bit kernel: the machine says aarch64.
        ("aarch64", 32, (3, 11), "tflite-runtime==2.14.*"),
        ("armv7l", 32, (3, 13), "No TFLite runtime exists for 32-bit ARM with Python 3.13"),
        ("aarch64", 32, (3, 13), "No TFLite runtime exists for 32-bit ARM with Python 3.13"),
    ],
)
def test_the_hint_names_what_exists_for_the_platform(
    machine: str, bits: int, python: tuple[int, int], expected: str
) -> None:
    hint = install_hint(machine, bits, python)
    assert expected in hint
    if "No TFLite runtime" in hint:
        assert 'policy = "qtable"' in hint and "64-bit Pi OS" in hint
        assert "pip install" not in hint


def test_the_hint_reads_this_interpreter_by_default() -> None:
    assert install_hint() in {
        install_hint(m, b, p)
        for m in ("x86_64", "aarch64", "armv7l")
        for b in (32, 64)
        for p in ((3, 11), (3, 12), (3, 13), (3, 14))
    }
