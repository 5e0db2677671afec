"""sim2pi's error root and the errors of ``shared/``; each also inherits the builtin it resembles.

``Sim2PiError`` is the one base of every error sim2pi raises on purpose: ``robot.errors.RobotError``
and ``trainer.errors.TrainerError`` derive from it, so one ``except Sim2PiError`` catches them all.
"""

from __future__ import annotations


class Sim2PiError(Exception):
    """Base class of every error sim2pi raises on purpose (shared, robot and trainer)."""


class SpecError(Sim2PiError, ValueError):
    """An observation, action or reward spec (or a discretiser) is malformed."""


class BundleError(Sim2PiError, ValueError):
    """A bundle directory cannot be written or read as the contract says."""


class BundleFileMissingError(BundleError, FileNotFoundError):
    """A file the manifest lists (or the manifest itself) is not in the bundle."""


class ChecksumError(BundleError):
    """A bundle file's sha256 differs from the one the manifest records."""


class BundleVersionError(BundleError):
    """The manifest's format version is not one this code can read."""


class ManifestError(BundleError):
    """``manifest.json`` is not valid JSON or a field is missing or has the wrong type."""


class QTableError(Sim2PiError, ValueError):
    """A Q-table has the wrong shape, non-finite values, or cannot be saved."""


class SnapshotError(QTableError):
    """A Q-table snapshot file is torn, truncated or fails its checksum."""


class NoSnapshotError(QTableError, FileNotFoundError):
    """A snapshot directory holds no loadable Q-table snapshot."""
