"""``resnext-bench doctor``: what this machine can run, and what is wrong with it.

Checks the things that make GPU benchmarks silently wrong: a CPU-only torch, onnxruntime and
onnxruntime-gpu installed side by side (they overwrite each other's module), an ORT build without
the CUDA / TensorRT providers, a TensorRT package that cannot build engines.
"""

from __future__ import annotations

import platform
import sys

from ..runtimes.cuda_probe import cuda_status
from ..runtimes.ort_build import (describe_ort_build, onnxruntime_packages, ort_build,
                                  overwritten_distributions)
from ..runtimes.packages import dist_version, module_present
from ..runtimes.registry import describe_runtimes


def diagnose() -> dict:
    sections: dict[str, list[str]] = {}
    problems: list[str] = []
    sections["python"] = [f"{sys.version.split()[0]} on {platform.platform()}"]
    from ..core.isa import isa_summary
    from .env import cpu_flags, cpu_model

    # the ISA decides which precisions pay: bf16 needs AVX-512 BF16 or AMX, fast int8 VNNI or AMX
    sections["cpu"] = [f"{cpu_model()}", f"ISA: {isa_summary(cpu_flags(), platform.platform())}"]

    if module_present("torch"):
        import torch

        lines = [f"torch {torch.__version__} (CUDA build: {torch.version.cuda or 'no, CPU-only'})",
                 f"threads: {torch.get_num_threads()}"]
        ok, reason = cuda_status()
        lines.append(f"CUDA usable: {'yes' if ok else 'no'} ({reason})")
        if ok:
            lines.append(f"cuDNN {torch.backends.cudnn.version()}, device capability "
                         f"sm{''.join(map(str, torch.cuda.get_device_capability(0)))}")
        sections["torch"] = lines
    else:
        sections["torch"] = ["not installed"]
        problems.append("torch is not installed: pip install torch==2.13.0 (CPU) or a CUDA build")

    pkgs = onnxruntime_packages()
    ort_lines = [f"installed distributions providing 'onnxruntime': "
                 f"{', '.join(f'{p} {dist_version(p)}' for p in pkgs) or 'none'}"]
    mixed = overwritten_distributions()
    if mixed:
        problems.append(f"{' and '.join(mixed)} are installed into the same folder; their files "
                        "overwrite the same 'onnxruntime' module. Uninstall all of them, then install "
                        "exactly one (pip install 'resnext-bench[cpu]' or 'resnext-bench[gpu]').")
    if module_present("onnxruntime"):
        try:
            build = ort_build()
            ort_lines.append(f"imported: {describe_ort_build(build)}")
            ort_lines.append(f"providers: {', '.join(build['providers'])}")
            if build["package"] == "onnxruntime-gpu" and "CUDAExecutionProvider" not in build["providers"]:
                problems.append("the imported onnxruntime-gpu has no CUDAExecutionProvider "
                                "(another package's files probably overwrote it)")
        except Exception as exc:
            ort_lines.append(f"import failed: {exc}")
            problems.append(f"onnxruntime does not import: {exc}")
    else:
        problems.append("ONNX Runtime is not installed: pip install 'resnext-bench[cpu]' (or [gpu])")
    sections["onnxruntime"] = ort_lines

    sections["onnx"] = [f"onnx {dist_version('onnx') or 'not installed'}, "
                        f"onnxscript {dist_version('onnxscript') or 'not installed'} "
                        "(the dynamo exporter needs it)"]
    trt = dist_version("tensorrt")
    if module_present("tensorrt"):
        try:
            import tensorrt

            builder = hasattr(tensorrt, "Builder")
            sections["tensorrt"] = [f"tensorrt {tensorrt.__version__}, "
                                    f"{'can build engines' if builder else 'lean runtime only (no builder)'}"]
        except Exception as exc:
            sections["tensorrt"] = [f"package {trt} present but import failed: {exc}"]
    else:
        sections["tensorrt"] = ["not installed (native TensorRT runtime unavailable)"]

    if module_present("openvino"):
        try:
            from ..runtimes.openvino_native import capabilities, default_inference_precision

            sections["openvino"] = [f"openvino {dist_version('openvino')}, CPU capabilities "
                                    f"{', '.join(capabilities())}",
                                    f"default inference precision of an fp32 model: "
                                    f"{default_inference_precision()} (fp32 rows ask for f32 explicitly)"]
        except Exception as exc:
            sections["openvino"] = [f"package present but the CPU plugin failed: {exc}"]
    else:
        sections["openvino"] = ["not installed (pip install 'resnext-bench[openvino]')"]
    sections["openvino"].append("onnxruntime-ep-openvino " + (dist_version("onnxruntime-ep-openvino")
                                                              or "not installed"))

    runtimes = describe_runtimes()
    width = max(len(r["name"]) for r in runtimes)
    sections["runtimes"] = [f"{r['name']:<{width}} {'yes' if r['available'] else 'no '}  {r['reason']}"
                            for r in runtimes]
    return {"sections": sections, "problems": problems, "runtimes": runtimes}
