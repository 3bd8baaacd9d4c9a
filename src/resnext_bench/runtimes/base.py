"""The one small interface every runtime implements (Polygraphy-style runner objects).

A runtime wraps one inference library. Its life cycle::

    ok, reason = Cls.available()         # classmethod, cheap, no side effects
    rt = Cls(options)
    rt.load(artifact)                    # ONNX path, or an nn.Module for ``torch``
    x = rt.prepare(images)               # runtime-native input (device-resident on GPU)
    y = rt.run(x); rt.synchronize()      # the timed call: compute only
    logits = rt.run_host(images)         # end-to-end: host numpy in, host numpy out (copies)
    settings = rt.settings()             # what ran, typed per family (.settings)
    rt.close()

The harness, not the runtime, owns timing: it wraps ``run`` in ``perf_counter_ns`` (CPU) or in
CUDA events on :attr:`Runtime.cuda_stream` (GPU), and ``run_host`` in host timers.
Heavy imports happen inside the runtime modules, in ``available`` / ``load``, never at import.
"""

from __future__ import annotations


from ..config import RUNTIME_SECTIONS, SECTIONS
from .settings import RuntimeSettings


class RuntimeOptions:
    """What one runtime instance needs: the combination it runs, and the typed option sections
    of the run configuration by name (``options.ort``, ``options.openvino`` ...: every section a
    runtime spec names, :data:`~resnext_bench.config.RUNTIME_SECTIONS`; each runtime reads the
    sections that concern it, a section not given is its defaults). Keyword arguments:
    ``device``, ``precision``, ``batch``, ``threads``, ``image_size``, ``max_batch`` (the largest
    batch a TensorRT profile takes; None: the measured batch), ``cache_dir``,
    ``artifact_sha256`` (the artifact's sha256 as the prepare step verified it: no runtime hashes
    the file again), and any section by name."""

    COMMON = {"device": "cpu", "precision": "fp32", "batch": 1, "threads": None, "image_size": 224,
              "max_batch": None, "cache_dir": None, "artifact_sha256": None}

    def __init__(self, **values):
        unknown = set(values) - set(self.COMMON) - set(RUNTIME_SECTIONS)
        if unknown:
            raise TypeError(f"RuntimeOptions: unknown option(s) {', '.join(sorted(unknown))}")
        for name, default in self.COMMON.items():
            setattr(self, name, values.get(name, default))
        self.sections = {name: values.get(name) or SECTIONS[name]() for name in RUNTIME_SECTIONS}

    def __getattr__(self, name):
        sections = self.__dict__.get("sections")
        if sections is not None and name in sections:
            return sections[name]
        raise AttributeError(name)

    def __repr__(self) -> str:
        common = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.COMMON)
        return f"RuntimeOptions({common})"

    @property
    def profile_max_batch(self) -> int:
        return max(self.batch, self.max_batch or self.batch)


class Runtime:
    """Base class; subclasses set ``name``, ``input_kind`` and implement the methods."""

    name: str = ""
    input_kind: str = "onnx"  # "onnx": load() takes an ONNX path; "module": an nn.Module
    devices: tuple[str, ...] = ("cpu",)
    precisions: tuple[str, ...] = ("fp32", "fp16")
    #: which ONNX file a precision runs: "fp16" -> the fp16 export, or "fp32" when the runtime
    #: lowers precision itself (TensorRT builds fp16 engines from the fp32 graph).
    onnx_precision_for: dict = {"fp32": "fp32", "fp16": "fp16"}
    #: int8 activation type of the QDQ file this runtime runs best ("auto" resolves to it)
    int8_activations: str = "int8"
    #: the family's typed settings (:mod:`.settings`): what ``describe`` records, read back by
    #: the report and ``deploy``
    settings_type: type[RuntimeSettings] = RuntimeSettings
    #: what a deployment needs beside the model file (``recommend``'s and ``tune``'s tie-break:
    #: fewer is better): 0 ONNX Runtime's CPU wheel, 1 one more library, 2 a plugin or a
    #: compiler toolchain, 3 TensorRT
    dependency_rank: int = 9
    #: options a ``tune`` tries besides the defaults: (settings, why) pairs
    search_options: tuple = ()

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

    @classmethod
    def precision_problem(cls, precision: str) -> str | None:
        """Why this runtime cannot run ``precision`` on this machine (beyond :attr:`precisions`,
        which is what it can run anywhere), or None. A sweep turns it into a skipped row."""
        return None

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

    #: why this runtime cannot give a layer-wise comparison, or None (ONNX runtimes run the
    #: debug twin through :meth:`run_all_outputs`; torch runtimes use forward hooks)
    layer_problem: str | None = "this runtime does not expose a model's intermediate tensors"
    #: what a layer-wise comparison costs beyond a second run, where that is too much to do by
    #: default (None: it runs by default where the precision calls for it)
    layer_cost: str | None = None

    def run_all_outputs(self, images) -> dict:
        """Every graph output of the loaded file by name, host float32 in and out (the debug
        twin's logits and layer taps: :mod:`resnext_bench.bench.layer_parity`)."""
        raise NotImplementedError(f"{self.name}: {self.layer_problem}")

    def synchronize(self) -> None:
        pass

    def parity_tolerance_key(self) -> str:
        """Which default parity tolerance applies: the precision, or ``tf32`` for an fp32 row
        whose runtime cannot turn TF32 off (ORT's TensorRT provider), or the precision the
        engine says it really ran (:meth:`executed_precision`)."""
        ran = self.executed_precision()
        if ran is None:
            return self.options.precision
        return "int8" if ran.startswith("int8") else ran

    def executed_precision(self) -> str | None:
        """The precision the engine really ran, when it differs from the row's (read back from
        the engine, or found by a numerical probe); None: as labelled, or not knowable."""
        return None

    def requests_per_call(self) -> int:
        """Inferences of ``batch`` images that one timed :meth:`run` call completes."""
        return 1

    # -- serving (bench/loadgen.py) -------------------------------------------------------------
    def serving_slots(self, n: int) -> list:
        """``n`` callables, each serving one request (a prepared batch) to its outputs, that
        may run at the same time as each other: one per request in flight. The default shares
        the loaded model, whose :meth:`run` is safe to call from several threads (an ONNX
        Runtime session; a torch module in inference mode); a runtime whose requests need their
        own state (OpenVINO's infer requests) overrides it."""
        def serve(x):
            out = self.run(x)
            self.synchronize()
            return out

        return [serve] * n

    def default_serving_slots(self) -> int:
        """Requests served at once under an open-loop load when not told (one: requests
        queue for the one model; OpenVINO: the plugin's optimal number of infer requests)."""
        return 1

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

    def settings(self) -> RuntimeSettings:
        """:meth:`describe` as the family's typed settings (what a worker's ``Finished`` carries)."""
        return self.settings_type.from_info(self.describe())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
