"""``ort-trt``: ONNX Runtime's TensorRT execution provider (CUDA provider as fallback for
unsupported nodes), with engine and timing caches in ``cache_dir/ort-trt``.

* TensorRT libraries: onnxruntime-gpu's TensorRT provider links TensorRT 10
  (``libnvinfer.so.10``); ``tensorrt`` is imported (which loads its libraries) before the
  session is created, and :meth:`OrtTrtRuntime.available` proves the provider loads.
* Stream: the same dedicated stream as ``ort-cuda``, passed to both providers.
* Optimization profile: batch 1..max_batch with the measured batch as ``opt``, for the graph's
  own input name.
* fp16 is TensorRT's own precision lowering of the fp32 graph (``trt_fp16_enable``), as trtexec
  does. The provider has no TF32 switch: fp32 rows record TF32 as on and are judged with the
  TF32 parity tolerance, unless the process runs with ``NVIDIA_TF32_OVERRIDE=0``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .ort_cuda import OrtCudaRuntime, cuda_provider_options, ort_gpu_status, stream_provider_options
from .packages import module_present

#: TensorRT major that onnxruntime-gpu 1.2x-1.31's TensorRT provider links (libnvinfer.so.10)
ORT_TRT_MAJOR = 10


def tensorrt_libraries_status() -> tuple[bool, str]:
    """TensorRT of the major ONNX Runtime's provider links, importable (it loads libnvinfer)."""
    if not module_present("tensorrt"):
        return False, (f"the TensorRT provider needs TensorRT {ORT_TRT_MAJOR} libraries: "
                       "pip install 'resnext-bench[ort-trt]'")
    import tensorrt

    version = getattr(tensorrt, "__version__", "?")
    if version.split(".")[0] != str(ORT_TRT_MAJOR):
        return False, (f"tensorrt {version} is installed, but ONNX Runtime's TensorRT provider "
                       f"links TensorRT {ORT_TRT_MAJOR} (libnvinfer.so.{ORT_TRT_MAJOR})")
    return True, f"tensorrt {version}"


def tf32_enabled() -> bool:
    """TensorRT builds may use TF32 for fp32 unless the process disabled it globally."""
    return os.environ.get("NVIDIA_TF32_OVERRIDE") != "0"


def trt_provider_options(opts, input_name: str, cache_dir: Path, stream_handle: int) -> dict:
    """TensorrtExecutionProvider options for one runtime instance (``opts``: RuntimeOptions)."""
    size = opts.image_size

    def shape(n):
        return f"{input_name}:{n}x3x{size}x{size}"

    return {
        "device_id": "0",
        "trt_fp16_enable": opts.precision == "fp16",
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache_dir),
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(cache_dir),
        "trt_max_workspace_size": opts.tensorrt.workspace_mb * (1 << 20),
        "trt_builder_optimization_level": opts.tensorrt.builder_opt_level,
        "trt_profile_min_shapes": shape(1),
        "trt_profile_opt_shapes": shape(opts.batch),
        "trt_profile_max_shapes": shape(opts.profile_max_batch),
        **stream_provider_options(stream_handle),
    }


class OrtTrtRuntime(OrtCudaRuntime):
    name = "ort-trt"
    dependency_rank = 3
    required_provider = "TensorrtExecutionProvider"
    onnx_precision_for = {"fp32": "fp32", "fp16": "fp32", "int8": "int8"}  # int8: explicit QDQ

    @classmethod
    def available(cls):
        if not module_present("onnxruntime"):
            return ort_gpu_status(cls.required_provider)  # says what to install
        ok, reason = tensorrt_libraries_status()  # before the probe: it loads libnvinfer
        if not ok:
            return ok, reason
        return ort_gpu_status(cls.required_provider)

    def parity_tolerance_key(self) -> str:
        if self.options.precision == "fp32" and tf32_enabled():
            return "tf32"
        return self.options.precision

    def _provider_list(self):
        import onnx

        cache = Path(self.options.cache_dir or "artifacts") / "ort-trt"
        cache.mkdir(parents=True, exist_ok=True)
        input_name = onnx.load(str(self._onnx_path), load_external_data=False).graph.input[0].name
        self._trt_options = trt_provider_options(self.options, input_name, cache,
                                                 self.stream.cuda_stream)
        return [("TensorrtExecutionProvider", self._trt_options),
                ("CUDAExecutionProvider", cuda_provider_options(self.options.ort, self.stream.cuda_stream))]

    def load(self, onnx_path):
        import tensorrt  # noqa: F401  (loads libnvinfer before the provider looks for it)

        self._onnx_path = onnx_path
        super().load(onnx_path)
        self.load_info["trt_options"] = {k: v for k, v in self._trt_options.items()
                                         if k not in ("device_id", "user_compute_stream")}
        self.load_info["tf32"] = self.options.precision == "fp32" and tf32_enabled()
        self.load_info["profile_max_batch"] = self.options.profile_max_batch
