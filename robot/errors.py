"""The error hierarchy of ``robot/``; each error also inherits the builtin it resembles.

Every error here is a ``RobotError``, and a ``RobotError`` is a ``shared.errors.Sim2PiError``:
catching ``Sim2PiError`` catches every error sim2pi raises on purpose.
"""

from __future__ import annotations

from shared.errors import Sim2PiError


class RobotError(Sim2PiError):
    """Base class of every error the robot runtime raises on purpose."""


class ConfigError(RobotError, ValueError):
    """``robot.toml`` is malformed: names the file, the key path, what was expected and the fix."""


class PolicyLoadError(RobotError, ValueError):
    """A bundle's policy cannot be used: missing model, or tensors differ from the manifest."""


class TFLiteRuntimeError(RobotError, ImportError):
    """No TFLite runtime can be imported, or none can build an interpreter."""


class SpecMismatchError(RobotError, ValueError):
    """The bundle's spec and the robot's config disagree (channels, actions)."""


class HardwareError(RobotError, OSError):
    """A sensor or motor driver cannot be opened or used."""


class FrameError(RobotError, ValueError):
    """A serial line-protocol frame is corrupt, partial, oversized or of an unknown kind."""

    def __init__(self, message: str, kind: str = "corrupt") -> None:
        super().__init__(message)
        #: ``corrupt``, ``partial``, ``oversized`` or ``unknown`` (what the link counts it as).
        self.kind = kind


class LinkLostError(HardwareError, ConnectionError):
    """The serial link to the microcontroller is down (the port vanished or went silent)."""
