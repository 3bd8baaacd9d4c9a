"""What an engineer ships: a measured row turned into the artifact, the command that re-creates
it, and the runtime settings as the runtime's own API spells them.

* the artifact: path, sha256, bytes, and whether it still exists (a dead path is said, not
  printed as if it were there);
* ``resnext-bench export ...`` with every setting that decides the file's bytes;
* the code that runs it as measured -- an ``onnxruntime.InferenceSession`` with the session
  options and provider list the session was created with, OpenVINO's ``compile_model`` with its
  properties, a ``trtexec`` line for TensorRT, the ``torch.compile`` call or the eager model --
  written by the runtime family's own settings type from what the runtime recorded.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ..core.schema import ResultRow


def export_command(r: ResultRow) -> str | None:
    """The ``resnext-bench export`` command that re-creates the row's ONNX file."""
    if r.onnx_path is None:
        return None
    precision = r.onnx_precision or r.precision
    args = ["resnext-bench", "export", "--arch", r.arch, "--form", r.form, "--precision", precision,
            "--image-size", str(r.image_size)]
    if r.opset is not None:
        args += ["--opset", str(r.opset)]
    if r.exporter:
        args += ["--exporter", r.exporter]
    if r.seed:
        args += ["--seed", str(r.seed)]
    if r.weights and r.weights != "calibrated-default":
        args += ["--weights", r.weights]
    q = r.quantization or {}
    if precision == "int8" and q:
        from ..exporters.quantizers import get_quantizer

        quantizer = q.get("quantizer", "ort")  # rows before the quantizer choice were ORT's
        args += ["--quantizer", quantizer, *get_quantizer(quantizer).cli_args(q)]
        args += ["--calib-count", str(q.get("asked_count", q.get("count")))]
        if str(q.get("source", "")).startswith("images:"):
            args += ["--calib-images", "DIR  # the same image folder as at measurement"]
    args += ["--out", str(Path(r.onnx_path).parent)]
    return " ".join(shlex.quote(a) if "#" not in a else a for a in args)


def runtime_settings(r: ResultRow):
    """The row's runtime settings, typed by the runtime's own family (:mod:`resnext_bench.
    runtimes.settings`): what the measured runtime recorded, not a re-derivation."""
    from ..runtimes.registry import settings_of

    return settings_of(r.runtime, r.runtime_info)


def deployment(r: ResultRow) -> dict:
    """The winner as a deployment: artifact, how to re-create it, how to run it, what it measured."""
    settings = runtime_settings(r)
    engine = getattr(settings, "engine_path", None)
    artifact = engine or r.onnx_path
    out = {
        "arch": r.arch, "form": r.form, "runtime": r.runtime, "device": r.device,
        "precision": r.precision, "batch": r.batch, "threads": r.threads, "image_size": r.image_size,
        "settings": r.settings, "config_key": r.config_key,
        "artifact": None if artifact is None else {
            "path": artifact, "exists": Path(artifact).is_file(),
            "sha256": None if engine else r.onnx_sha256,
            "bytes": settings.extra.get("engine_bytes") if engine else r.onnx_bytes},
        "export_command": export_command(r),
        "measured": {"latency_p50_ms": r.latency_p50_ms, "latency_p90_ms": r.latency_p90_ms,
                     "latency_p99_ms": r.latency_p99_ms, "throughput_ips": r.throughput_ips,
                     "samples": r.latency_n, "rounds": r.rounds, "round_spread": r.round_spread,
                     "peak_rss_mb": r.peak_rss_mb, "device_mem_mb": r.device_mem_mb,
                     "load_seconds": r.load_seconds, "run_id": r.run_id, "timestamp": r.timestamp},
        "precision_executed": r.precision_executed,
        "parity": {"passed": r.parity_passed, "max_rel_err": r.parity_max_rel_err,
                   "cosine": r.parity_cosine, "top1_agreement": r.parity_top1_agreement,
                   "tolerance": r.parity_tolerance, "failed": r.parity_failed,
                   "weights": r.parity_weights, "inputs": r.parity_inputs},
        "accuracy": None if r.accuracy_top1 is None else {
            "top1": r.accuracy_top1, "top5": r.accuracy_top5, "reference_top1": r.accuracy_ref_top1,
            "top1_drop_points": r.accuracy_top1_drop, "top1_drop_ci": r.accuracy_top1_drop_ci,
            "images": r.accuracy_images},
        "quantization": r.quantization, "note": r.note,
    }
    out["runtime_code"] = settings.code(r)
    return out
