"""``robot check``'s int8 line: which compact model the bundle holds and how it was gated.

The exporter (trainer/export) records in the manifest the model's quantisation
(``models.int8.quantization``; bundles made before it have none and are full-int8), its greedy
agreement with the Keras model, its bar (``parity.thresholds.int8``, lowered when below 99 %),
and, where the agreement is below the bar, the return check that let it pass. A
``hidden-int8`` model's last layer was refitted on the parity states, so its agreement is in
sample (``parity.int8.agreement_in_sample``) and its return check, on other seeds, always runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The exporter's default int8 agreement bar (trainer/export/parity.py's MIN_AGREEMENT).
DEFAULT_INT8_BAR = 0.99
#: What each of the exporter's quantisation modes is (trainer/export/tflite.py).
QUANTIZATION_NAMES = {
    "full-int8": "full-int8: int8 weights and activations",
    "float-output": "float-output: int8 layers, float32 last layer",
    "hidden-int8": "hidden-int8: int8 hidden layers, float32 first and refitted last layer",
    "float16": "float16: float16 weights, float32 arithmetic",
}


def int8_summary(manifest: Mapping[str, Any]) -> str | None:
    """The ``int8`` line: the bundle's compact model, its recorded agreement with Keras, its
    return check and whether its gate was lowered (None: no int8 model)."""
    model = (manifest.get("models") or {}).get("int8")
    if not isinstance(model, Mapping):
        return None
    mode = str(model.get("quantization", "full-int8"))  # older bundles were full-int8
    line = f"int8     {QUANTIZATION_NAMES.get(mode, mode)}"
    parity = manifest.get("parity") or {}
    result, bar = parity.get("int8"), (parity.get("thresholds") or {}).get("int8")
    if not isinstance(result, Mapping) or not isinstance(bar, int | float):
        return line + "; no parity recorded"
    # A refitted model's agreement is on the states it was fitted to; its return is not.
    sample = "in sample, " if result.get("agreement_in_sample") else ""
    line += f"; agreement {result['agreement']:.2%} with Keras ({sample}bar {bar:.0%}"
    line += ", LOWERED at export)" if bar < DEFAULT_INT8_BAR else ")"
    returns = result.get("returns")
    if isinstance(returns, Mapping):
        line += (
            f"; return {returns['int8_mean']:.2f} against float32's {returns['float32_mean']:.2f} "
            f"over {returns['episodes']} episodes (required {returns['required']:.2f})"
        )
    gate = result.get("gate")
    if gate is None:  # recorded by an older export: agreement was the only gate
        gate = "agreement" if result["agreement"] >= bar else "failed"
    if gate == "agreement" and result["agreement"] < DEFAULT_INT8_BAR:
        return line + ": meets only the lowered bar"
    verdict = {
        "agreement": "keeps the policy by agreement",
        "return": "keeps the policy by its return",
    }
    return line + f": {verdict.get(gate, 'gate not met')}"
