"""The probe's child program: one TFLite runtime runs a model on reference inputs, or dies trying.

``robot.inference.probe`` starts it as ``python .../probe_child.py`` (by path: a crashing runtime
takes only this process down) with ``{"candidate", "model", "inputs"}`` as JSON on stdin. It
prints marked lines to stdout: each stage before it starts (so that a crash can be placed), then
the outputs (dequantised, one row per input) and the output's quantisation step (0 for float).

Only the standard library here, and numpy once the interpreter exists, so that it runs whatever
is (not) importable from ``robot/`` and a runtime that dies early costs no numpy import (slow on
qemu). ``python -m robot.inference.probe_child < request.json`` runs it by hand.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

#: Starts every line meant for the parent (a runtime may print its own lines too).
MARK = "sim2pi-probe "
#: Tensor types that make a model quantised: such a model runs on the built-in kernels.
QUANTISED_TYPES = frozenset({"int8", "uint8", "int16"})


def quantised(interpreter: Any) -> bool:
    """Whether the interpreter's model has any int8 (or uint8, int16) tensor."""
    return any(
        getattr(d["dtype"], "__name__", str(d["dtype"])) in QUANTISED_TYPES
        for d in interpreter.get_tensor_details()
    )


def build_interpreter(interpreter_class: Callable[..., Any], model_path: str) -> Any:
    """An interpreter for ``model_path`` (one thread, tensors not allocated) as the robot builds
    it: a float model with the runtime's defaults (XNNPACK for its float layers); a quantised
    one (``quantised``) on the runtime's built-in kernels
    (``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES``): LiteRT's default XNNPACK delegate
    rounds int8 layers, and the float layer before a QUANTIZE, differently from tflite-runtime
    2.14, beyond the probe's tolerance; on the built-in kernels the two agree
    (docs/benchmarks/export.md). The resolver type is taken from the module that defines
    ``interpreter_class`` or a base of it (``ai_edge_litert.interpreter``,
    ``tflite_runtime.interpreter``).
    """
    interpreter = interpreter_class(model_path=model_path, num_threads=1)
    if not quantised(interpreter):
        return interpreter
    resolver = _resolver_type(interpreter_class)
    return interpreter_class(
        model_path=model_path,
        num_threads=1,
        experimental_op_resolver_type=resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )


def say(kind: str, value: object) -> None:
    """Print one marked line ``{kind: value}`` and flush it (the next stage may crash)."""
    print(MARK + json.dumps({kind: value}), flush=True)


def _resolver_type(interpreter_class: Callable[..., Any]) -> Any:
    """The ``OpResolverType`` enum of the runtime that defines ``interpreter_class``."""
    for klass in getattr(interpreter_class, "__mro__", (interpreter_class,)):
        module = sys.modules.get(getattr(klass, "__module__", ""))
        if module is not None and hasattr(module, "OpResolverType"):
            return module.OpResolverType
    raise RuntimeError(
        f"{interpreter_class!r}: its runtime has no OpResolverType, so it cannot run a quantised "
        "model on its built-in kernels"
    )


def run_request(request: Mapping[str, Any], report: Callable[[str, object], None] = say) -> None:
    """Build ``request['candidate']``'s interpreter for the model and run every input row.

    Args:
        request: ``candidate`` (a runtime's top-level module), ``model`` (a ``.tflite`` path) and
            ``inputs`` (one row of normalised float input per inference).
        report: receives each ``("stage", name)`` before it starts, then ``("result", ...)``.
    """
    candidate = request["candidate"]
    report("stage", "import " + candidate)
    interpreter_class = importlib.import_module(candidate + ".interpreter").Interpreter
    report("stage", "Interpreter()")
    interpreter = build_interpreter(interpreter_class, request["model"])
    report("stage", "allocate_tensors()")
    interpreter.allocate_tensors()
    import numpy as np  # only now: a runtime that died earlier cost no numpy import

    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    report("stage", "invoke()")
    outputs = [_invoke(interpreter, inp, out, row) for row in request["inputs"]]
    step = float(out["quantization"][0]) if out["dtype"] != np.float32 else 0.0
    report("result", {"outputs": outputs, "step": step})


def _invoke(
    interpreter: Any, inp: Mapping[str, Any], out: Mapping[str, Any], row: Any
) -> list[float]:
    """One inference: the float row in (quantised if the input is), the float output row out."""
    import numpy as np

    x = np.asarray(row, dtype=np.float32).reshape(inp["shape"])
    if inp["dtype"] != np.float32:
        scale, zero = inp["quantization"]
        info = np.iinfo(inp["dtype"])
        x = np.clip(np.round(x / scale + zero), info.min, info.max)
    interpreter.set_tensor(inp["index"], x.astype(inp["dtype"]))
    interpreter.invoke()
    y = interpreter.get_tensor(out["index"])
    if out["dtype"] != np.float32:
        scale, zero = out["quantization"]
        y = (y.astype(np.float32) - zero) * scale
    return np.asarray(y, dtype=np.float64).reshape(-1).tolist()


def main(stdin: TextIO | None = None) -> int:
    """Read one request from ``stdin`` and run it; an exception ends the process with code 1."""
    run_request(json.load(stdin or sys.stdin))
    return 0


if __name__ == "__main__":
    # Run by path, Python put this file's folder first on sys.path; the working directory goes
    # there instead (as with ``python -c``), so that no sibling module can shadow a runtime's.
    sys.path[0] = ""
    raise SystemExit(main())
