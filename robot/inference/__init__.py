"""Greedy policies from a bundle: the Q-table and TFLite models, and the TFLite runtime that
runs them.

The names below are what the trainer may use (``robot.TRAINER_SURFACE``): it loads a policy
exactly as the robot does. They are imported on first use, so that ``python -m
robot.inference.probe`` does not find the probe already imported by this package (runpy warns).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from robot.inference.policy import Decision, Policy, available_policies, load_policy
    from robot.inference.tflite_runtimes import (
        XNNPACK_NOISE,
        TFLiteRuntime,
        allocate_tensors,
        choose_runtime,
    )

#: Each exported name → the module that defines it.
_EXPORTS = {
    "Decision": "robot.inference.policy",
    "Policy": "robot.inference.policy",
    "available_policies": "robot.inference.policy",
    "load_policy": "robot.inference.policy",
    "TFLiteRuntime": "robot.inference.tflite_runtimes",
    "choose_runtime": "robot.inference.tflite_runtimes",
    # allocating an interpreter's tensors without the runtime's known noise (the exporter's too)
    "allocate_tensors": "robot.inference.tflite_runtimes",
    "XNNPACK_NOISE": "robot.inference.tflite_runtimes",
}
__all__ = [
    "XNNPACK_NOISE",
    "Decision",
    "Policy",
    "TFLiteRuntime",
    "allocate_tensors",
    "available_policies",
    "choose_runtime",
    "load_policy",
]


def __getattr__(name: str) -> object:
    """The exported ``name``, imported from its module on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
