"""int8 accuracy control for the ``ort`` quantizer: keep the layers that hurt in float, as few
as the target allows. (The ``nncf`` quantizer uses NNCF's own
``quantize_with_accuracy_control`` instead; :mod:`.int8` chooses.)

NNCF's ``quantize_with_accuracy_control`` and Intel Neural Compressor's tuning loop return the
worst layers to float until the accuracy drop is within a limit; ONNX Runtime's
``qdq_loss_debug`` names those layers by the signal-to-quantization-noise ratio (SQNR) of each
tensor. This module does the same on the tool's QDQ files:

1. quantize everything (:func:`.quantize.quantize_onnx`) and measure the file on a *control
   set* -- seeded crops of the calibration images with another seed, so neither the
   calibration inputs nor the parity inputs -- against the fp32 file's own outputs (ONNX
   Runtime CPU for both: the target is about quantization, not about a runtime);
2. if it misses the target (``--int8-target``: cosine and / or top-1 agreement), rank the
   quantized nodes by the SQNR (QDQ model against float model, ``qdq_loss_debug``) they lose
   between their inputs and their output, worst first;
3. find the fewest nodes to keep in float by bisection over that ranking (each step is a real
   quantization with ``nodes_to_exclude`` and a real measurement), assuming that keeping more
   of the worst nodes in float does not hurt;
4. cache the answer: the chosen file is an ordinary quantized file (its key holds the float
   nodes), and a small JSON keyed by the fp32 file, the calibration settings and the target
   remembers which nodes were chosen and every step tried (the curve: nodes in float ->
   control-set parity; ``benchmarks/int8_fallback.py`` adds the latency of each step).

A target that even the all-float ranking cannot meet ends with a one-line error naming the best
reached.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from ..config import QuantOptions
from ..core.errors import UsageError
from ..core.fileio import ensure_dir, loads_bounded, write_json_atomic
from .control_set import control_metrics, describe_best

#: node types quantize_static quantizes in these graphs (weights, or the activation Q/DQ pair
#: on their output): excluding a Conv alone leaves the Q/DQ of the Add or MaxPool after it
QUANTIZED_OPS = ("Conv", "Gemm", "MatMul", "Add", "Sum", "Concat", "MaxPool", "AveragePool",
                 "GlobalAveragePool", "Mul")
#: SQNR taken for the model input (exact in both models)
INPUT_SQNR_DB = 120.0
FALLBACK_VERSION = 1


class Int8TargetUnreachable(UsageError):
    """No number of float nodes meets the target; the message names the best reached."""


def sensitivity_ranking(fp32_pre: Path, qdq: Path, images, input_name: str) -> list[dict]:
    """Quantized nodes of the pre-processed float graph, worst first: how much SQNR (dB, the
    QDQ model's tensor against the float model's, ``xmodel_err``) a node loses between its
    inputs and its output -- the damage done *at* that node, where the output's SQNR alone
    accumulates everything upstream and would rank the deepest layers worst."""
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations,
                                                         compute_activation_error,
                                                         create_activation_matching,
                                                         modify_model_output_intermediate_tensors)

    from .calibration import ort_reader as _reader

    with tempfile.TemporaryDirectory() as tmp:
        aug_f, aug_q = Path(tmp) / "float.onnx", Path(tmp) / "qdq.onnx"
        modify_model_output_intermediate_tensors(str(fp32_pre), str(aug_f))
        modify_model_output_intermediate_tensors(str(qdq), str(aug_q))
        float_acts = collect_activations(str(aug_f), _reader(images, input_name))
        qdq_acts = collect_activations(str(aug_q), _reader(images, input_name))
    errors = compute_activation_error(create_activation_matching(qdq_acts, float_acts))
    graph = onnx.load(str(fp32_pre), load_external_data=False).graph
    consumers: dict[str, list] = {}
    for n in graph.node:
        for t in n.input:
            consumers.setdefault(t, []).append(n)
    def sqnr(tensor):
        err = errors.get(tensor, {})
        return float(err["xmodel_err"]) if "xmodel_err" in err else None

    def carried(tensor):
        # the quantizer puts a conv's output Q/DQ after a following Relu (fused): follow
        # single-consumer activations to the tensor that carries the node's quantization
        while tensor not in errors and len(consumers.get(tensor, [])) == 1 \
                and consumers[tensor][0].op_type in ("Relu", "Clip"):
            tensor = consumers[tensor][0].output[0]
        return tensor

    ranked = []
    for n in graph.node:
        if n.op_type not in QUANTIZED_OPS:
            continue
        out = sqnr(carried(n.output[0]))
        if out is None:
            continue
        ins = [v for v in (sqnr(t) for t in n.input) if v is not None]
        before = min(ins) if ins else INPUT_SQNR_DB
        ranked.append({"node": n.name, "op": n.op_type, "sqnr_in_db": round(before, 3),
                       "sqnr_out_db": round(out, 3), "sqnr_drop_db": round(before - out, 3)})
    return sorted(ranked, key=lambda r: -r["sqnr_drop_db"])


def quantize_to_target(fp32, quant: QuantOptions, out_dir, control, target: dict, *,
                       force: bool = False):
    """The QDQ file of ``fp32`` (:class:`~.calibration.Fp32File`) that meets ``target`` on
    ``control`` (:class:`~.quantize.ControlSet`) with the fewest nodes in float (see the module
    docstring); a :class:`~.artifact.ExportResult` whose summary's
    ``quantization.fallback`` records the target, the float nodes and every step tried."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ..core.parity import target_misses
    from .calibration import calibration_source, ort_outputs
    from .quantize import quantize_onnx

    plain_quant = replace(quant, int8_target=None)
    fp32_path, input_name = fp32.path, fp32.input_name
    out_dir = ensure_dir(out_dir or fp32_path.parent)
    key = {"fp32_sha256": fp32.sha256, "calibration": calibration_source(quant),
           "method": quant.calib_method, "count": quant.calib_count,
           "activations": quant.quant_activations, "target": target, "control": control.source,
           "max_float": quant.int8_max_float, "version": FALLBACK_VERSION}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    record_path = out_dir / f"{fp32_path.stem}_int8target_{digest}.json"
    if record_path.is_file() and not force:
        try:
            record = loads_bounded(record_path.read_text())
            res = quantize_onnx(fp32_path, plain_quant, out_dir, exclude=tuple(record["float_nodes"]),
                                fp32=fp32)
            return _with_record(res, record)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # damaged: search again

    images, labels, ref = control.images, control.labels, control.reference
    steps = []

    def attempt(exclude: tuple[str, ...]):
        res = quantize_onnx(fp32_path, plain_quant, out_dir, force=force, exclude=exclude, fp32=fp32)
        metrics = control_metrics(ref, ort_outputs(res.path, images), labels)
        misses = target_misses(metrics, target)
        steps.append({"float_nodes": len(exclude), "path": str(res.path), **metrics, "met": not misses})
        return res, misses

    res, misses = attempt(())
    ranking = []
    if misses:
        with tempfile.TemporaryDirectory() as tmp:
            pre = Path(tmp) / "pre.onnx"
            quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
            ranking = sensitivity_ranking(pre, res.path, images[:8], input_name)
        names = [r["node"] for r in ranking]
        cap = int(quant.int8_max_float * len(names) + 1e-9)
        full, full_misses = attempt(tuple(names[:cap])) if cap > 0 else (res, misses)
        if full_misses:
            best = max(steps, key=lambda s: (-s.get("drop", 0), s["cosine"], s["top1"]))
            raise Int8TargetUnreachable(
                f"int8 target {quant.int8_target!r} cannot be met on the control set with at most {cap} of "
                f"{len(names)} quantized nodes in float (--int8-max-float {quant.int8_max_float:g}): the best "
                f"reached is {describe_best(best)} with {best['float_nodes']} in float "
                f"({'; '.join(full_misses)})")
        lo, hi, best_res = 0, cap, full  # lo misses, hi meets
        while hi - lo > 1:
            mid = (lo + hi) // 2
            cand, cand_misses = attempt(tuple(names[:mid]))
            if cand_misses:
                lo = mid
            else:
                hi, best_res = mid, cand
        res, chosen = best_res, names[:hi]
    else:
        chosen = []
    record = {"method": "SQNR-ranked bisection (resnext-bench, onnxruntime quantize_static)",
              "target": target, "target_spec": quant.int8_target, "float_nodes": chosen,
              "quantized_nodes": len(ranking) or None, "control": key["control"],
              "control_images": int(len(images)), "measured": next(
                  s for s in steps if s["float_nodes"] == len(chosen)),
              "steps": sorted(steps, key=lambda s: s["float_nodes"]),
              "ranking": ranking[:max(len(chosen), 10)], "ranking_method":
              "qdq_loss_debug xmodel SQNR lost across each node (input minus output, dB), largest first"}
    write_json_atomic(record_path, record)
    return _with_record(res, record)


def _with_record(res, record: dict):
    from .artifact import ExportResult

    summary = dict(res.summary)
    summary["quantization"] = dict(summary.get("quantization", {}), fallback=record,
                                   float_nodes=len(record["float_nodes"]))
    return ExportResult(res.path, res.cache_hit, summary)
