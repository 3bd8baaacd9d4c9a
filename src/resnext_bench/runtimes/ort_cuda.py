"""``ort-cuda``: ONNX Runtime's CUDAExecutionProvider with IOBinding.

Compute time is measured on device-resident buffers: input and output are torch CUDA tensors
bound with IOBinding, and ORT runs on torch's current stream (``user_compute_stream``) so that
the harness's CUDA events bracket exactly ORT's kernels. End-to-end time (``run_host``) is a plain
``session.run`` with host numpy arrays, so it includes ORT's H2D and D2H copies.

After the session is created the provider really in use is checked: ORT falls back to the CPU
provider silently when the CUDA provider cannot load (missing CUDA/cuDNN libraries, or the
onnxruntime / onnxruntime-gpu clash), and that must be an error, not a slow "GPU" number.
"""

from __future__ import annotations

from ._common import cuda_status, import_onnxruntime, module_present, onnxruntime_packages
from .ort_cpu import OrtSessionRuntime, ort_versions

CONV_ALGO_SEARCH = ("EXHAUSTIVE", "HEURISTIC", "DEFAULT")


def ort_gpu_status(provider: str) -> tuple[bool, str]:
    if not module_present("onnxruntime"):
        return False, "onnxruntime is not installed (pip install 'resnext-bench[gpu]')"
    pkgs = onnxruntime_packages()
    if len(pkgs) > 1:
        return False, f"conflicting ONNX Runtime packages installed: {', '.join(pkgs)} (keep one)"
    ort = import_onnxruntime()
    if provider not in ort.get_available_providers():
        return False, (f"onnxruntime {ort.__version__} ({', '.join(pkgs) or 'unknown package'}) "
                       f"has no {provider}; install onnxruntime-gpu instead of onnxruntime")
    ok, reason = cuda_status()
    if not ok:
        return False, reason
    return True, f"onnxruntime {ort.__version__}, {reason}"


class OrtCudaRuntime(OrtSessionRuntime):
    name = "ort-cuda"
    devices = ("cuda",)
    required_provider = "CUDAExecutionProvider"

    @classmethod
    def available(cls):
        return ort_gpu_status("CUDAExecutionProvider")

    @classmethod
    def versions(cls):
        return ort_versions()

    def _cuda_provider_options(self) -> dict:
        import torch

        algo = str(self.options.extra.get("cudnn_conv_algo_search", "EXHAUSTIVE")).upper()
        if algo not in CONV_ALGO_SEARCH:
            raise ValueError(f"cudnn_conv_algo_search must be one of {', '.join(CONV_ALGO_SEARCH)}")
        self._algo = algo
        return {
            "device_id": 0,
            "cudnn_conv_algo_search": algo,
            "has_user_compute_stream": "1",
            "user_compute_stream": str(torch.cuda.current_stream().cuda_stream),
            "do_copy_in_default_stream": "1",
        }

    def _provider_list(self):
        return [("CUDAExecutionProvider", self._cuda_provider_options())]

    def load(self, onnx_path):
        import torch

        self._torch = torch
        super().load(onnx_path)
        self.load_info["cudnn_conv_algo_search"] = getattr(self, "_algo", None)
        self.load_info["tf32"] = "ORT default (use_tf32 not set)"
        self._binding = None
        self._out = None

    def _torch_dtype(self):
        return self._torch.float16 if self.input_dtype == "float16" else self._torch.float32

    def prepare(self, images):
        """Device-resident input and output buffers bound once; ``run`` reuses the binding."""
        import numpy as np

        torch = self._torch
        x = torch.from_numpy(images).to("cuda", self._torch_dtype()).contiguous()
        out_shape = self._output_shape(images.shape[0])
        out = torch.empty(out_shape, dtype=self._torch_dtype(), device="cuda")
        np_dtype = np.float16 if self.input_dtype == "float16" else np.float32
        binding = self.session.io_binding()
        binding.bind_input(self.input_name, "cuda", 0, np_dtype, tuple(x.shape), x.data_ptr())
        binding.bind_output(self.output_name, "cuda", 0, np_dtype, tuple(out.shape), out.data_ptr())
        return (binding, x, out)

    def _output_shape(self, batch: int) -> tuple:
        dims = self.session.get_outputs()[0].shape
        return (batch,) + tuple(int(d) for d in dims[1:])

    def run(self, prepared):
        binding, _x, out = prepared
        self.session.run_with_iobinding(binding)
        return out

    def run_host(self, images):
        import numpy as np

        feed = images.astype(np.float16 if self.input_dtype == "float16" else np.float32, copy=False)
        return np.asarray(self.session.run([self.output_name], {self.input_name: feed})[0],
                          dtype=np.float32)

    def to_numpy(self, out):
        return out.float().cpu().numpy()

    def synchronize(self):
        self._torch.cuda.synchronize()

    @property
    def cuda_stream(self):
        return self._torch.cuda.current_stream()
