"""TensorFlow's start-up noise, kept off ``python -m trainer``'s terminal unless ``--verbose``.

What prints, and what controls it (TensorFlow 2.21):

- ``I… cpu_feature_guard.cc] This TensorFlow binary is optimized …`` and its ``To enable the
  following instructions …`` line, and at run time ``I… service.cc] XLA service …``, ``Compiled
  cluster using XLA!``, the converter's ``W… Ignored output_format.``: TensorFlow's C++ log, which
  ``TF_CPP_MIN_LOG_LEVEL`` filters when it is set before TensorFlow is imported. Quiet sets it to
  2 (errors and fatal errors still print); it never overrides a value the environment already
  has.
- ``I… port.cc] oneDNN custom operations are on …`` and absl's ``WARNING: All log messages
  before absl::InitializeLog() is called are written to STDERR``, once for each of two shared
  libraries while ``import tensorflow`` runs: logged before TensorFlow reads its log level, so no
  variable hides them but ``TF_ENABLE_ONEDNN_OPTS=0``, which changes the kernels (and results)
  and is not ours to turn off. So the first ``import tensorflow``, wherever it happens (``keras``
  imports it too), runs inside ``shared.quiet.filtered_stderr``: these lines are dropped and any
  other line printed during the import is written back.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from shared.quiet import filtered_stderr, verbose

#: TensorFlow's known noise on stderr, line by line.
TF_NOISE: tuple[re.Pattern[str], ...] = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written"),
    re.compile(r"\] oneDNN custom operations are on\. You may see slightly different numerical"),
    re.compile(r"cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized to use available"),
    re.compile(r"^To enable the following instructions: .* rebuild TensorFlow with the"),
    # The TFLite converter's own print (not its log) when it quantizes a model.
    re.compile(r"^fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, output_"),
)
#: TensorFlow's C++ log level when quiet: 2 hides INFO and WARNING, shows ERROR and FATAL.
QUIET_TF_LOG_LEVEL = "2"


class _FilteredLoader:
    """A module's own loader, run with stderr filtered; the module keeps the real loader."""

    def __init__(self, loader: Any, noise: tuple[re.Pattern[str], ...]) -> None:
        self._loader = loader
        self._noise = noise

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        with filtered_stderr(self._noise):
            self._loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class QuietImport:
    """A ``sys.meta_path`` finder: the first import of ``name`` runs with ``noise`` filtered."""

    def __init__(self, name: str, noise: tuple[re.Pattern[str], ...]) -> None:
        self.name = name
        self.noise = noise

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if fullname != self.name:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)  # once: only the first import prints, and no recursion
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _FilteredLoader(spec.loader, self.noise)  # type: ignore[assignment]
        return spec


def quiet_tensorflow() -> None:
    """Unless verbose: TensorFlow's C++ log at errors and its import's noise filtered.

    Call before TensorFlow is imported (``python -m trainer`` does, first thing); idempotent.
    """
    if verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_TF_LOG_LEVEL)
    if "tensorflow" in sys.modules:
        return
    if not any(isinstance(finder, QuietImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, QuietImport("tensorflow", TF_NOISE))
