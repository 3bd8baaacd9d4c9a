"""The one small interface every runtime implements (Polygraphy-style runner objects).

A runtime wraps one inference library. Its life cycle::

    ok, reason = Cls.available()         # classmethod, cheap, no side effects
    rt = Cls(options)
    rt.load(artifact)                    # ONNX path, or an nn.Module for ``torch``
    x = rt.prepare(images)               # runtime-native input (device-resident on GPU)
    y = rt.run(x); rt.synchronize()      # the timed call: compute only
    logits = rt.run_host(images)         # end-to-end: host numpy in, host numpy out (copies)
    rt.close()

The harness, not the runtime, owns timing: it wraps ``run`` in ``perf_counter_ns`` (CPU) or in
CUDA events on :attr:`Runtime.cuda_stream` (GPU), and ``run_host`` in host timers.
Heavy imports happen inside the runtime modules, in ``available`` / ``load``, never at import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RuntimeOptions:
    """Options common to all runtimes, plus runtime-specific ``extra`` settings.

    ``extra`` keys understood: ``cudnn_conv_algo_search`` (ort-cuda/ort-trt: EXHAUSTIVE,
    HEURISTIC, DEFAULT), ``workspace_mb`` (TensorRT), ``builder_optimization_level``
    (TensorRT 0-5), ``cuda_graph`` (TensorRT, torch cuda), ``graph_optimization_level``
    (ORT: disable, basic, extended, all), ``max_batch`` (TensorRT profile max).
    """

    device: str = "cpu"
    precision: str = "fp32"
    batch: int = 1
    threads: int | None = None
    channels_last: bool = False
    cache_dir: Path | None = None
    extra: dict = field(default_factory=dict)


class Runtime:
    """Base class; subclasses set ``name``, ``input_kind`` and implement the methods."""

    name: str = ""
    input_kind: str = "onnx"  # "onnx": load() takes an ONNX path; "module": an nn.Module
    devices: tuple[str, ...] = ("cpu",)
    precisions: tuple[str, ...] = ("fp32", "fp16")
    #: which ONNX file a precision runs: "fp16" -> the fp16 export, or "fp32" when the runtime
    #: lowers precision itself (TensorRT builds fp16 engines from the fp32 graph).
    onnx_precision_for: dict = {"fp32": "fp32", "fp16": "fp16"}

    def __init__(self, options: RuntimeOptions | None = None):
        self.options = options or RuntimeOptions()
        self.load_info: dict = {}

    # -- availability -----------------------------------------------------------------------
    @classmethod
    def available(cls) -> tuple[bool, str]:
        raise NotImplementedError

    @classmethod
    def versions(cls) -> dict:
        return {}

    # -- life cycle -------------------------------------------------------------------------
    def load(self, artifact) -> None:
        raise NotImplementedError

    def prepare(self, images):
        """Turn a host float32 NCHW array into what :meth:`run` takes (kept across iterations)."""
        return images

    def run(self, prepared):
        raise NotImplementedError

    def run_host(self, images):
        """End-to-end: host float32 array in, host float32 logits out."""
        return self.to_numpy(self.run(self.prepare(images)))

    def to_numpy(self, outputs):
        import numpy as np

        return np.asarray(outputs, dtype=np.float32)

    def synchronize(self) -> None:
        pass

    def close(self) -> None:
        pass

    # -- description --------------------------------------------------------------------------
    @property
    def is_cuda(self) -> bool:
        return self.options.device == "cuda"

    @property
    def cuda_stream(self):
        """The torch.cuda.Stream the runtime enqueues its work on (GPU runtimes)."""
        return None

    def describe(self) -> dict:
        """Settings in effect, for the result row (providers, optimization level, TF32...)."""
        return dict(self.load_info)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
