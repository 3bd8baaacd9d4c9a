"""``torch-compile``: the PyTorch model through ``torch.compile`` (inductor), cpu or cuda.

``--compile-mode default|reduce-overhead|max-autotune``. Compilation is lazy in PyTorch (it
happens on the first call); here ``load`` makes that first call on an input of the measured
shape, so compile time is part of ``load_seconds`` (and ``compile_seconds``) and the warm-up
does not hide it. The shape is static (``dynamic=False``): parity runs batches of the same
shape, so nothing recompiles.

Inductor needs a C++ compiler for CPU code and Triton for GPU code; when one is missing the
runtime says so (``available``) and ``load`` fails with that reason, not with a compiler log.
"""

from __future__ import annotations

import os
import shutil
import time

from .packages import module_present
from .torch_eager import TorchRuntime


def cpu_compiler() -> str | None:
    """The C++ compiler inductor would use on the CPU (``CXX``, else c++ / g++ / clang++)."""
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def toolchain_problem(device: str) -> str | None:
    if device == "cuda":
        if not module_present("triton"):
            return "torch.compile (inductor) on cuda needs Triton (pip install triton)"
        return None
    if cpu_compiler() is None:
        return "torch.compile (inductor) on cpu needs a C++ compiler: none found (install g++ or set CXX)"
    return None


class TorchCompileRuntime(TorchRuntime):
    name = "torch-compile"
    dependency_rank = 2
    search_options = ()  # max-autotune compiles for minutes per shape on a CPU: not in a budget

    @classmethod
    def available(cls):
        if not module_present("torch"):
            return False, "torch is not installed"
        import torch

        if not hasattr(torch, "compile"):
            return False, f"torch {torch.__version__} has no torch.compile"
        problem = toolchain_problem("cpu")
        if problem:
            return False, problem
        return True, f"torch {torch.__version__}, inductor; C++ compiler {cpu_compiler()}"

    def load(self, module):
        problem = toolchain_problem(self.options.device)
        if problem:
            raise RuntimeError(problem)
        super().load(module)
        torch = self._torch
        mode = self.options.torch.compile_mode
        compiled = torch.compile(self.model, mode=mode, backend="inductor", dynamic=False)
        example = torch.zeros((self.options.batch, 3, self.options.image_size, self.options.image_size),
                              dtype=self.dtype, device=self.device).contiguous(memory_format=self.memory_format)
        t0 = time.perf_counter()
        with torch.inference_mode():
            compiled(example)  # compiles now: load time, not warm-up
            self.synchronize()
        self._eager = self.model
        self.model = compiled
        self.load_info.update({"compile_mode": mode, "compile_backend": "inductor",
                               "compile_seconds": round(time.perf_counter() - t0, 3),
                               "cuda_graph": None})

    #: layer taps by hooks recompile the model (as long again as the load): only on request
    layer_cost = "forward hooks make torch.compile compile the model again (20-60 s on a CPU)"

    @property
    def eager_model(self):
        return self._eager

    def _tap_runner(self, model):
        import torch._dynamo

        torch._dynamo.reset()  # the hooked module compiles afresh, once
        return self._torch.compile(model, mode=self.options.torch.compile_mode, backend="inductor",
                                   dynamic=False)
