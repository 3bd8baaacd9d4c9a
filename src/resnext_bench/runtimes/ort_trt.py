"""``ort-trt``: ONNX Runtime's TensorRT execution provider (CUDA provider as fallback for
unsupported nodes), with engine and timing caches in ``cache_dir/ort-trt``.

The optimization profile covers batch 1..max_batch with the measured batch as ``opt``. fp16 is
TensorRT's own precision lowering of the fp32 graph (``trt_fp16_enable``), as trtexec does.
"""

from __future__ import annotations

from pathlib import Path

from .ort_cuda import OrtCudaRuntime, ort_gpu_status


class OrtTrtRuntime(OrtCudaRuntime):
    name = "ort-trt"
    required_provider = "TensorrtExecutionProvider"
    onnx_precision_for = {"fp32": "fp32", "fp16": "fp32"}

    @classmethod
    def available(cls):
        ok, reason = ort_gpu_status("TensorrtExecutionProvider")
        if not ok:
            return ok, reason
        from ._common import module_present

        if not module_present("tensorrt"):
            return False, "TensorrtExecutionProvider is listed but the tensorrt libraries are not installed"
        return ok, reason

    def _provider_list(self):
        opts = self.options
        cache = Path(opts.cache_dir or "artifacts") / "ort-trt"
        cache.mkdir(parents=True, exist_ok=True)
        size = opts.extra.get("image_size", 224)
        max_batch = max(opts.batch, int(opts.extra.get("max_batch", opts.batch)))

        def shape(n):
            return f"input:{n}x3x{size}x{size}"

        trt = {
            "device_id": 0,
            "trt_fp16_enable": opts.precision == "fp16",
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(cache),
            "trt_max_workspace_size": int(opts.extra.get("workspace_mb", 4096)) * (1 << 20),
            "trt_builder_optimization_level": int(opts.extra.get("builder_optimization_level", 3)),
            "trt_profile_min_shapes": shape(1),
            "trt_profile_opt_shapes": shape(opts.batch),
            "trt_profile_max_shapes": shape(max_batch),
        }
        self._trt_options = trt
        return [("TensorrtExecutionProvider", trt),
                ("CUDAExecutionProvider", self._cuda_provider_options())]

    def load(self, onnx_path):
        super().load(onnx_path)
        self.load_info["trt_options"] = {k: v for k, v in self._trt_options.items()
                                         if k != "device_id"}
