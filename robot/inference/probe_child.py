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


def say(kind: str, value: object) -> None:
    """Print one marked line ``{kind: value}`` and flush it (the next stage may crash)."""
    print(MARK + json.dumps({kind: value}), flush=True)


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
    interpreter = interpreter_class(model_path=request["model"], num_threads=1)
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
