"""The accuracy control's yardstick: the held-out *control set* a target is measured on, and
the metrics a target is judged by.

Both quantizers' accuracy controls use it -- the tool's bisection (:mod:`.int8_fallback`, for
``ort``) and NNCF's ``quantize_with_accuracy_control`` (:mod:`.quantizers`) -- and so do the
final check (:mod:`.int8`) and the cache key (:mod:`.quantize`); it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from ..config import QuantOptions
from ..core.errors import UsageError
from .calibration import CALIB_SEED, calibration_images, calibration_plan, calibration_source

#: the control set's crops take the calibration seed plus this (neither calibration nor parity inputs)
CONTROL_SEED_OFFSET = 1
#: images of a labeled calibration folder an accuracy-drop target is measured on
CONTROL_LABELED_IMAGES = 400


@dataclass
class ControlSet:
    """Held-out inputs an accuracy control measures on: images, their labels (an accuracy
    target) or None, the set's stable name, and the fp32 file's logits on them -- computed on
    first use, so a cached accuracy-controlled file costs no inference."""

    images: object
    labels: object
    source: str
    fp32_path: Path

    @cached_property
    def reference(self):
        from .calibration import ort_outputs

        return ort_outputs(self.fp32_path, self.images)


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


def control_metrics(ref, out, labels=None) -> dict:
    """What a target is judged on: cosine, top-1 agreement and max_rel_err against the fp32
    logits ``ref``; with labels, the accuracy, the fp32 accuracy and the drop in points."""
    from ..core.parity import DEFAULT_TOLERANCES, accuracy_fields, compare_logits

    r = compare_logits(ref, out, DEFAULT_TOLERANCES["int8"])
    metrics = {"cosine": round(r.cosine, 6), "top1": round(r.top1_agreement, 4),
               "max_rel_err": round(r.max_rel_err, 5)}
    if labels is not None:
        acc = accuracy_fields(ref, out, labels)
        metrics |= {"accuracy": round(acc["accuracy_top1"], 4),
                    "ref_accuracy": round(acc["accuracy_ref_top1"], 4),
                    "drop": round(acc["accuracy_top1_drop"], 3)}
    return metrics


def describe_best(m: dict) -> str:
    """``cosine 0.9912, top-1 0.938, accuracy drop 1.20 points``."""
    text = f"cosine {m['cosine']:.4f}, top-1 {m['top1']:.3f}"
    return text + (f", accuracy drop {m['drop']:.2f} points" if "drop" in m else "")
