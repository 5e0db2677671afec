"""The bundle: a directory the trainer writes and the robot loads (``manifest.json`` + files).

Writing is atomic (a temp directory renamed into place), so a failed export leaves nothing behind
(``write``). Reading checks the format version, every file's sha256 and the manifest's fields,
within limits on every file's size, kind and nesting, and raises one ``BundleError`` subclass
that names the file, the field, what was expected and what was found (``read``). The types and
constants both share are in ``format``.
"""

from shared.bundle.format import (
    FILE_LIMITS,
    FORMAT_VERSION,
    MANIFEST,
    MANIFEST_LIMITS,
    MODEL_FILES,
    QTABLE_FILE,
    Bundle,
    ModelEntry,
    TensorInfo,
    sha256_file,
)
from shared.bundle.read import read_bundle, read_manifest
from shared.bundle.write import package_versions, write_bundle

__all__ = [
    "FILE_LIMITS",
    "FORMAT_VERSION",
    "MANIFEST",
    "MANIFEST_LIMITS",
    "MODEL_FILES",
    "QTABLE_FILE",
    "Bundle",
    "ModelEntry",
    "TensorInfo",
    "package_versions",
    "read_bundle",
    "read_manifest",
    "sha256_file",
    "write_bundle",
]
