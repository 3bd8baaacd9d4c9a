"""What an engineer ships: a measured row turned into the artifact, the command that re-creates
it, and the runtime settings as the runtime's own API spells them.

* the artifact: path, sha256, bytes, and whether it still exists (a dead path is said, not
  printed as if it were there);
* ``resnext-bench export ...`` with every setting that decides the file's bytes;
* an ``onnxruntime.InferenceSession`` snippet with the session and provider options in effect,
  a ``trtexec`` line for TensorRT, the ``torch.compile`` call, or the eager model.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from ..core.schema import ResultRow

ORT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
              "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}
#: provider options that name this run's objects (a stream pointer, a cache dir) or that the
#: snippet sets anyway: left out of the snippet
_TRANSIENT = {"user_compute_stream", "has_user_compute_stream"}


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
        args += ["--calib-method", str(q.get("method")), "--calib-count", str(q.get("asked_count", q.get("count")))]
        if str(q.get("source", "")).startswith("images:"):
            args += ["--calib-images", "DIR  # the same image folder as at measurement"]
    args += ["--out", str(Path(r.onnx_path).parent)]
    return " ".join(shlex.quote(a) if "#" not in a else a for a in args)


def _py(value) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def ort_snippet(r: ResultRow) -> str:
    info = r.runtime_info
    level = ORT_LEVELS.get(info.get("graph_optimization_level", "all"), "ORT_ENABLE_ALL")
    lines = ["import onnxruntime as ort", "", "so = ort.SessionOptions()",
             f"so.graph_optimization_level = ort.GraphOptimizationLevel.{level}"]
    if r.threads:
        lines.append(f"so.intra_op_num_threads = {r.threads}")
    if r.runtime == "ort-cpu":
        providers = '["CPUExecutionProvider"]'
    elif r.runtime == "ort-cuda":
        opts = {"device_id": "0", "cudnn_conv_algo_search": info.get("cudnn_conv_algo_search", "EXHAUSTIVE"),
                "use_tf32": "0"}
        providers = f'[("CUDAExecutionProvider", {opts!r})]'
    else:  # ort-trt
        trt = {k: v for k, v in (info.get("trt_options") or {}).items() if k not in _TRANSIENT}
        providers = f'[("TensorrtExecutionProvider", {trt!r}), "CUDAExecutionProvider"]'
    lines.append(f"session = ort.InferenceSession({_py(r.onnx_path)}, so, providers={providers})")
    return "\n".join(lines)


def openvino_snippet(r: ResultRow) -> str:
    """The ``compile_model`` call with the properties the measured run passed (recorded by the
    runtime as ``compile_config``), and the precision the compiled model reported."""
    info = r.runtime_info
    cfg = {k: v for k, v in (info.get("compile_config") or {}).items() if k != "CACHE_DIR"}
    ran = info.get("inference_precision")
    lines = ["import openvino as ov", "", "core = ov.Core()",
             f"compiled = core.compile_model({_py(r.onnx_path)}, {_py(info.get('ov_device', 'CPU'))}, {cfg!r})"]
    if ran:
        lines.append(f"# measured with INFERENCE_PRECISION_HINT read back as {ran}")
    n = info.get("infer_requests") or 1
    if n > 1:
        lines += [f"queue = ov.AsyncInferQueue(compiled, {n})  # {n} requests in flight, as measured",
                  "# queue.start_async({0: images}); queue.wait_all()"]
    else:
        lines.append("request = compiled.create_infer_request()  # request.infer({0: images})")
    return "\n".join(lines)


def ort_openvino_snippet(r: ResultRow) -> str:
    """An InferenceSession on the OpenVINO EP plugin with the provider options measured."""
    info = r.runtime_info
    opts = info.get("provider_options") or {}
    level = ORT_LEVELS.get(info.get("graph_optimization_level", "all"), "ORT_ENABLE_ALL")
    return "\n".join([
        "import onnxruntime as ort", "import onnxruntime_ep_openvino as ov_ep", "",
        'ort.register_execution_provider_library("openvino", ov_ep.get_library_path())',
        "cpu = next(d for d in ort.get_ep_devices()",
        '           if d.ep_name == ov_ep.get_ep_name() and d.ep_metadata.get("ov_device") == "CPU")',
        "so = ort.SessionOptions()",
        f"so.graph_optimization_level = ort.GraphOptimizationLevel.{level}",
        'so.add_session_config_entry("session.disable_cpu_ep_fallback", "1")',
        f"so.add_provider_for_devices([cpu], {opts!r})",
        f"session = ort.InferenceSession({_py(r.onnx_path)}, so)"])


def trtexec_line(r: ResultRow) -> str:
    info, size = r.runtime_info, r.image_size
    lo, opt, hi = info.get("profile_min_opt_max") or (1, r.batch, r.batch)
    name = info.get("input_name", "input")
    args = ["trtexec", f"--onnx={r.onnx_path}", f"--saveEngine={Path(str(r.onnx_path)).stem}.engine",
            f"--minShapes={name}:{lo}x3x{size}x{size}", f"--optShapes={name}:{opt}x3x{size}x{size}",
            f"--maxShapes={name}:{hi}x3x{size}x{size}",
            f"--memPoolSize=workspace:{info.get('workspace_mb', 4096)}M",
            f"--builderOptimizationLevel={info.get('builder_opt_level', 3)}"]
    args.append("--stronglyTyped" if r.precision == "fp16" else "--noTF32")
    return " ".join(args)


def torch_snippet(r: ResultRow) -> str:
    weights = "None" if not r.weights or r.weights == "calibrated-default" else _py(r.weights)
    # the default and the trained reference are built once and cached: name the cache
    cache = ', cache_dir="artifacts"' if weights == "None" or r.weights == "digits" else ""
    dtype = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}[r.precision]
    lines = ["import torch", "from resnext_bench.models import build_model", "",
             f"model = build_model({_py(r.arch)}, form={_py(r.form)}, seed={r.seed or 0}, "
             f"weights={weights}{cache}).eval().to({_py(r.device)}, torch.{dtype})"]
    if r.runtime_info.get("channels_last"):
        lines.append("model = model.to(memory_format=torch.channels_last)")
    if r.threads:
        lines.insert(1, f"torch.set_num_threads({r.threads})")
    if r.runtime == "torch-compile":
        mode = r.runtime_info.get("compile_mode", "default")
        lines.append(f"model = torch.compile(model, mode={_py(mode)}, backend=\"inductor\", dynamic=False)")
    return "\n".join(lines)


def deployment(r: ResultRow) -> dict:
    """The winner as a deployment: artifact, how to re-create it, how to run it, what it measured."""
    engine = r.runtime_info.get("engine_path")
    artifact = engine or r.onnx_path
    out = {
        "arch": r.arch, "form": r.form, "runtime": r.runtime, "device": r.device,
        "precision": r.precision, "batch": r.batch, "threads": r.threads, "image_size": r.image_size,
        "settings": r.settings, "config_key": r.config_key,
        "artifact": None if artifact is None else {
            "path": artifact, "exists": Path(artifact).is_file(),
            "sha256": None if engine else r.onnx_sha256,
            "bytes": r.runtime_info.get("engine_bytes") if engine else r.onnx_bytes},
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
    if r.runtime == "ort-openvino":
        out["runtime_code"] = ort_openvino_snippet(r)
    elif r.runtime == "openvino":
        out["runtime_code"] = openvino_snippet(r)
    elif r.runtime.startswith("ort-"):
        out["runtime_code"] = ort_snippet(r)
    elif r.runtime == "tensorrt":
        out["runtime_code"] = trtexec_line(r)
    else:
        out["runtime_code"] = torch_snippet(r)
    return out
