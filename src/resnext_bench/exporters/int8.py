"""The int8 file a row or ``export --precision int8`` asks for: plain quantization, or
quantization under an accuracy target (``--int8-target``), by the quantizer asked for.

Who does the accuracy control:

* ``--quantizer nncf`` (default): ``nncf.quantize_with_accuracy_control``, the library made
  for it -- an accuracy target (``drop:X`` points, ``drop:X%`` relative) with top-1 accuracy
  as NNCF's metric, or a fidelity target (cosine / top-1 agreement) as one normalized margin;
* ``--quantizer ort``: the tool's SQNR-ranked bisection (:mod:`.int8_fallback`), since
  NNCF's restorer cannot drive ``quantize_static``'s ``nodes_to_exclude``.

Both measure on the same held-out control set (:func:`control_set`); the result is measured
there once more, and a target it misses is a one-line error naming the best reached (exit 2).
The row records the measured metrics and how many weighted layers stayed in float.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..config import QuantOptions
from .artifact import ExportResult
from .calibration import ort_outputs, read_fp32
from .control_set import control_metrics, control_set, describe_best
from .int8_fallback import Int8TargetUnreachable, quantize_to_target
from .quantize import quantize_onnx
from .quantizers import get_quantizer


def make_int8(fp32_path: str | Path, quant: QuantOptions, out_dir: str | Path | None = None, *,
              force: bool = False) -> ExportResult:
    """The int8 file of ``fp32_path`` for ``quant`` (see the module doc)."""
    if not quant.int8_target:
        return quantize_onnx(fp32_path, quant, out_dir, force=force)
    from ..core.parity import parse_int8_target, target_misses

    target = parse_int8_target(quant.int8_target)
    fp32 = read_fp32(fp32_path)
    quantizer = get_quantizer(quant.quantizer)
    control = control_set(quant, fp32, target)
    if not quantizer.controls_accuracy:  # the tool's bisection over nodes_to_exclude
        return quantize_to_target(fp32, quant, out_dir, control, target, force=force)
    res = quantize_onnx(fp32_path, replace(quant, int8_target=None), out_dir, force=force,
                        fp32=fp32, control=control, target=target, max_float=quant.int8_max_float)
    measured = control_metrics(control.reference, ort_outputs(res.path, control.images),
                               control.labels)
    misses = target_misses(measured, target)
    q = res.summary["quantization"]
    if misses:
        raise Int8TargetUnreachable(
            f"int8 target {quant.int8_target!r} cannot be met: NNCF's accuracy control kept "
            f"{q.get('float_weighted_ops', 0)} weighted layer(s) in float; the best reached is "
            f"{describe_best(measured)} on the control set ({'; '.join(misses)}) with "
            f"--int8-max-float {quant.int8_max_float:g}: loosen either, or give --quantizer ort")
    summary = dict(res.summary)
    summary["quantization"] = dict(q, accuracy_control=dict(
        q.get("accuracy_control", {}), target=target, target_spec=quant.int8_target,
        control=control.source, control_images=int(len(control.images)), measured=measured,
        float_nodes=q.get("float_weighted_ops", 0)))
    return ExportResult(res.path, res.cache_hit, summary)
