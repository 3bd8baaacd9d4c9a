"""``torch``: eager PyTorch on cpu or cuda, fp32 / fp16 / bf16, optional channels_last.

Also the shape of the parity reference (fp32, TF32 off). On CUDA, fp32 runs with TF32 disabled
for both matmul and cuDNN, and the row records it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from .base import Runtime
from .cuda_probe import cuda_status
from .packages import module_present
from .settings import RuntimeSettings, py

#: the row's precision -> torch dtype name (the runtime, its deploy snippet and the tune bundle)
TORCH_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def fp32_ieee(torch):
    """Turn TF32 off for fp32 matmul and cuDNN conv with torch's current precision API
    (``fp32_precision = "ieee"``; the legacy ``allow_tf32`` flags on older torch), and return a
    function that restores exactly what was changed: these are process-wide settings, and the
    next configuration (or the user's own code) must not inherit them."""
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        targets = [torch.backends.cuda.matmul, torch.backends.cudnn.conv]
        attr, value = "fp32_precision", "ieee"
    else:  # torch < 2.9
        targets = [torch.backends.cuda.matmul, torch.backends.cudnn]
        attr, value = "allow_tf32", False
    before = [getattr(t, attr) for t in targets]
    for t in targets:
        setattr(t, attr, value)

    def restore():
        for t, v in zip(targets, before):
            setattr(t, attr, v)

    return restore


@dataclass
class TorchSettings(RuntimeSettings):
    """torch eager / torch.compile as run: memory format, the TF32 and cuDNN flags set, CUDA
    graphs, and the compile call's mode and backend."""

    channels_last: bool | None = None
    tf32: bool | None = None
    cudnn_benchmark: bool | None = None
    cuda_graph: bool | None = None
    compile_mode: str | None = None
    compile_backend: str | None = None

    SUMMARY = ("compile_backend", "compile_mode", "channels_last", "tf32", "cudnn_benchmark",
               "cuda_graph")

    def code(self, row) -> str:
        weights = "None" if not row.weights or row.weights == "calibrated-default" else py(row.weights)
        # the default and the trained reference are built once and cached: name the cache
        cache = ', cache_dir="artifacts"' if weights == "None" or row.weights == "digits" else ""
        dtype = TORCH_DTYPES[row.precision]
        lines = ["import torch", "from resnext_bench.models import build_model", "",
                 f"model = build_model({py(row.arch)}, form={py(row.form)}, seed={row.seed or 0}, "
                 f"weights={weights}{cache}).eval().to({py(row.device)}, torch.{dtype})"]
        if self.channels_last:
            lines.append("model = model.to(memory_format=torch.channels_last)")
        if row.threads:
            lines.insert(1, f"torch.set_num_threads({row.threads})")
        if self.compile_backend or row.runtime == "torch-compile":
            lines.append(f"model = torch.compile(model, mode={py(self.compile_mode or 'default')}, "
                         f"backend={py(self.compile_backend or 'inductor')}, dynamic=False)")
        return "\n".join(lines)


class TorchRuntime(Runtime):
    name = "torch"
    input_kind = "module"
    settings_type = TorchSettings
    dependency_rank = 1
    search_options = (({"channels_last": True}, "channels_last: oneDNN's preferred layout for convs"),)
    devices = ("cpu", "cuda")
    precisions = ("fp32", "fp16", "bf16")

    @classmethod
    def available(cls):
        if not module_present("torch"):
            return False, "torch is not installed"
        import torch

        ok, reason = cuda_status()
        return True, f"torch {torch.__version__}; cpu" + (f" + cuda ({reason})" if ok else "")

    @classmethod
    def versions(cls):
        if not module_present("torch"):
            return {}
        import torch

        return {"torch": torch.__version__, "cuda": torch.version.cuda}

    def load(self, module):
        import torch

        opts = self.options
        self._torch = torch
        self.dtype = getattr(torch, TORCH_DTYPES[opts.precision])
        if opts.threads and opts.device == "cpu":
            torch.set_num_threads(opts.threads)
        self.device = torch.device(opts.device)
        if self.is_cuda:
            ok, reason = cuda_status()
            if not ok:
                raise RuntimeError(f"torch cuda requested but {reason}")
            self._restore_tf32 = fp32_ieee(torch)
            self._cudnn_benchmark = torch.backends.cudnn.benchmark
            torch.backends.cudnn.benchmark = True
            self._stream = torch.cuda.current_stream()
        model = copy.deepcopy(module).eval().to(self.device, self.dtype)
        self.memory_format = torch.channels_last if opts.torch.channels_last else torch.contiguous_format
        if opts.torch.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self._graph = None
        self.load_info = {
            "torch_version": torch.__version__, "channels_last": opts.torch.channels_last,
            "tf32": False if self.is_cuda else None,
            "threads_effective": torch.get_num_threads(),
            "cudnn_benchmark": True if self.is_cuda else None,
        }
        if self.is_cuda and opts.cuda.cuda_graph:
            self.load_info["cuda_graph"] = True

    def prepare(self, images):
        t = self._torch.from_numpy(images).to(self.device, self.dtype)
        return t.contiguous(memory_format=self.memory_format)

    def run(self, x):
        with self._torch.inference_mode():
            if self.load_info.get("cuda_graph"):
                return self._run_graph(x)
            return self.model(x)

    def _run_graph(self, x):
        """CUDA graph replay: capture once per input shape (static buffers), then replay."""
        torch = self._torch
        if self._graph is None or self._graph[1].shape != x.shape:
            static_in = x.clone()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    self.model(static_in)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self.model(static_in)
            self._graph = (graph, static_in, static_out)
        graph, static_in, static_out = self._graph
        static_in.copy_(x)
        graph.replay()
        return static_out

    def to_numpy(self, out):
        return out.float().cpu().numpy()

    layer_problem = None

    def layer_taps(self, images, plan) -> tuple:
        """(logits, {tap: array}) of the model as loaded (dtype, memory format), by forward
        hooks installed once (:class:`resnext_bench.models.taps.TapRecorder`)."""
        from ..models.taps import TapRecorder

        if getattr(self, "_recorder", None) is None:
            self._recorder = TapRecorder(self.eager_model, plan)
            self._tapped = self._tap_runner(self.eager_model)
        with self._torch.inference_mode():
            logits = self._tapped(self.prepare(images))
        return self.to_numpy(logits), self._recorder.take()

    def _tap_runner(self, model):
        return model

    @property
    def eager_model(self):
        return self.model

    def synchronize(self):
        if self.is_cuda:
            self._torch.cuda.synchronize()

    @property
    def cuda_stream(self):
        return self._torch.cuda.current_stream() if self.is_cuda else None

    def close(self):
        if getattr(self, "_recorder", None) is not None:
            self._recorder.remove()
            self._recorder = self._tapped = None
        self.model = None
        self._graph = None
        if self.is_cuda and hasattr(self, "_restore_tf32"):
            self._restore_tf32()
            self._torch.backends.cudnn.benchmark = self._cudnn_benchmark
            self._torch.cuda.empty_cache()
