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
from ..core.errors import UsageError
from .artifact import ExportResult
from .calibration import CALIB_SEED, calibration_images, calibration_plan, calibration_source, \
    ort_outputs, read_fp32
from .int8_fallback import (CONTROL_LABELED_IMAGES, CONTROL_SEED_OFFSET, Int8TargetUnreachable,
                            control_metrics, describe_best, quantize_to_target)
from .quantize import ControlSet, quantize_onnx
from .quantizers import get_quantizer


def control_set(quant: QuantOptions, fp32, target: dict) -> ControlSet:
    """The held-out inputs a target is measured on: crops of the calibration images with another
    seed; for an accuracy target, the labeled calibration folder's centre crops (calibration
    takes random crops of them). With the fp32 file's logits on them (ONNX Runtime CPU: the
    target is about quantization, not about a runtime)."""
    from ..core.parity import accuracy_target

    size = fp32.image_size
    if not accuracy_target(target):
        seed = CALIB_SEED + CONTROL_SEED_OFFSET
        images, labels = calibration_images(quant, size, seed=seed), None
        source = calibration_source(quant, seed)
    else:
        from ..models.imagefiles import labeled_classes
        from ..models.inputs import labeled_folder_images

        folder, _ = calibration_plan(quant)
        if folder is None or labeled_classes(folder) is None:
            raise UsageError("--int8-target drop:X needs a labeled calibration folder (class "
                             "subfolders, e.g. --calib-images digits-train)")
        images, labels = labeled_folder_images(folder, size, limit=CONTROL_LABELED_IMAGES,
                                               flag="--calib-images")
        source = f"labeled centre crops of {calibration_source(replace(quant, calib_crops='off'))}"
    return ControlSet(images, labels, source, fp32.path)


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
