"""The trainer's error hierarchy, under sim2pi's root ``shared.errors.Sim2PiError``.

Each error also inherits the builtin it resembles; a ``UsageError`` is bad user input and makes
the CLI exit with code 2.
"""

from __future__ import annotations

from shared.errors import Sim2PiError


class TrainerError(Sim2PiError):
    """Base class of every error the trainer raises on purpose."""


class UsageError(TrainerError, ValueError):
    """Bad input from the user (CLI argument, preset, override); the CLI prints it and exits 2."""


class UnknownEnvError(UsageError, LookupError):
    """The env id is not registered with Gymnasium."""


class SpaceError(UsageError):
    """The env's action or observation space is one this algorithm cannot handle."""


class HyperparameterError(UsageError):
    """An unknown hyperparameter name, or a value of the wrong type."""


class RunDirError(UsageError, FileNotFoundError):
    """A run directory is missing a file, or a file in it is malformed."""
