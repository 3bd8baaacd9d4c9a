"""``ort-cuda``: ONNX Runtime's CUDAExecutionProvider with IOBinding on a dedicated stream.

* **Stream.** ORT runs on a dedicated (non-default) ``torch.cuda.Stream`` whose handle is passed
  as ``user_compute_stream``. torch's default stream has handle 0, and ORT sets
  ``has_user_compute_stream = (user_compute_stream != nullptr)``: passing it is silently ignored
  and the provider runs on a stream of its own that nobody times. Input copies are made on the
  dedicated stream, the harness records its CUDA events on it, and the timed calls run with
  ``disable_synchronize_execution_providers`` so ORT does not block the host after each call
  (the harness synchronizes the stream itself).
* **Compute vs end-to-end.** Compute time is measured on device-resident buffers (torch CUDA
  tensors bound with IOBinding); end-to-end time (``run_host``) is a plain ``session.run`` with
  host arrays, so it includes ORT's H2D and D2H copies.
* **TF32 off.** The CUDA provider's ``use_tf32`` defaults to 1; it is set to 0 so that "fp32"
  means fp32, and the row records it.
* **No silent CPU fallback.** After the session is created the provider really in use is
  checked; :func:`ort_gpu_status` proves the provider loads before a run starts.
"""

from __future__ import annotations

from functools import lru_cache

from ..config import OrtOptions
from .cuda_probe import cuda_major_mismatch, cuda_status
from .ort_build import describe_ort_build, import_onnxruntime, ort_build, probe_provider
from .ort_session import OrtSessionRuntime, ort_versions
from .packages import module_present

#: ORT run-config entry: do not synchronize the provider's stream at the end of ``run``
NO_SYNC_ENTRY = "disable_synchronize_execution_providers"


@lru_cache(maxsize=None)
def ort_gpu_status(provider: str) -> tuple[bool, str]:
    """Whether ``provider`` is usable here, proven by a session, with a one-line reason."""
    if not module_present("onnxruntime"):
        return False, "onnxruntime is not installed (pip install 'resnext-bench[gpu]')"
    ort = import_onnxruntime()
    build = ort_build(ort)
    if provider not in build["providers"]:
        return False, (f"{describe_ort_build(build)} has no {provider}: install onnxruntime-gpu "
                       "(pip install 'resnext-bench[gpu]', never beside onnxruntime)")
    loaded, why = probe_provider(ort, provider)
    if not loaded:
        note = cuda_major_mismatch(build["cuda_version"])
        return False, f"{provider} is listed but does not load: {why}" + (f"; {note}" if note else "")
    ok, reason = cuda_status()
    if not ok:
        return False, reason
    return True, f"{describe_ort_build(build)}, {reason}"


def stream_provider_options(stream_handle: int) -> dict:
    """Provider options that make ORT enqueue its work on the given (non-default) stream."""
    if not stream_handle:
        raise ValueError("user_compute_stream must be a non-default stream: handle 0 is ignored "
                         "by ONNX Runtime (has_user_compute_stream = stream != nullptr)")
    return {"has_user_compute_stream": "1", "user_compute_stream": str(int(stream_handle))}


def cuda_provider_options(ort: OrtOptions, stream_handle: int, device_id: int = 0) -> dict:
    """CUDAExecutionProvider options: cuDNN algo search, TF32 off, our stream."""
    return {"device_id": str(device_id), "cudnn_conv_algo_search": ort.cudnn_algo,
            "use_tf32": "0", "do_copy_in_default_stream": "1",
            **stream_provider_options(stream_handle)}


class OrtCudaRuntime(OrtSessionRuntime):
    name = "ort-cuda"
    dependency_rank = 2
    devices = ("cuda",)
    required_provider = "CUDAExecutionProvider"

    @classmethod
    def available(cls):
        return ort_gpu_status(cls.required_provider)

    @classmethod
    def versions(cls):
        return ort_versions()

    def _provider_list(self):
        return [("CUDAExecutionProvider",
                 cuda_provider_options(self.options.ort, self.stream.cuda_stream))]

    def load(self, onnx_path):
        import torch

        self._torch = torch
        self.stream = torch.cuda.Stream()  # dedicated: a non-zero handle ORT will really use
        super().load(onnx_path)
        self.run_options = self._ort.RunOptions()
        self.run_options.add_run_config_entry(NO_SYNC_ENTRY, "1")
        self.load_info.update({"cudnn_conv_algo_search": self.options.ort.cudnn_algo,
                               "tf32": False, "cuda_stream": "dedicated torch.cuda.Stream",
                               "timed_run_options": {NO_SYNC_ENTRY: "1"}})
        self._binding = None

    def _torch_dtype(self):
        return self._torch.float16 if self.input_dtype == "float16" else self._torch.float32

    def prepare(self, images):
        """Device-resident input and output buffers, copied on the runtime's stream and bound
        once; ``run`` reuses the binding."""
        import numpy as np

        torch = self._torch
        with torch.cuda.stream(self.stream):
            x = torch.from_numpy(images).to("cuda", self._torch_dtype()).contiguous()
            out = torch.empty(self._output_shape(images.shape[0]), dtype=self._torch_dtype(),
                              device="cuda")
        self.stream.synchronize()
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
        self.session.run_with_iobinding(binding, self.run_options)
        return out

    def run_host(self, images):
        import numpy as np

        feed = images.astype(np.float16 if self.input_dtype == "float16" else np.float32, copy=False)
        return np.asarray(self.session.run([self.output_name], {self.input_name: feed})[0],
                          dtype=np.float32)

    def to_numpy(self, out):
        self.stream.synchronize()
        return out.float().cpu().numpy()

    def synchronize(self):
        self.stream.synchronize()

    @property
    def cuda_stream(self):
        return self.stream
