"""``ort-cpu``: ONNX Runtime's CPUExecutionProvider.

``threads`` sets intra-op threads (default: ORT's own choice, the physical cores, which the row
records as counted: the threads session creation added, plus the caller); the graph
optimization level (default ``all``) and the providers actually in use are recorded in the row.
"""

from __future__ import annotations

from .base import Runtime
from ._common import (describe_ort_build, import_onnxruntime, module_present, ort_build,
                      process_thread_count)

#: config.GRAPH_OPT_LEVELS -> ONNX Runtime's enum names
GRAPH_OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
                    "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


def ort_versions() -> dict:
    """The imported build (not merely the installed distributions: they can shadow each other)."""
    if not module_present("onnxruntime"):
        return {}
    build = ort_build()
    return {"onnxruntime_build": {k: build[k] for k in ("package", "version", "cuda_version", "shadowed")}}


class OrtSessionRuntime(Runtime):
    """Shared session set-up for the ORT runtimes; subclasses choose the providers."""

    providers: list = []
    required_provider = ""
    threads_added: int | None = None
    precisions = ("fp32", "fp16", "int8")
    onnx_precision_for = {"fp32": "fp32", "fp16": "fp16", "int8": "int8"}  # int8: the QDQ file

    def _provider_list(self) -> list:
        return list(self.providers)

    def _session_options(self, ort):
        so = ort.SessionOptions()
        level = self.options.ort.graph_opt_level
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, GRAPH_OPT_LEVELS[level])
        so.log_severity_level = 3
        if self.options.threads:
            so.intra_op_num_threads = self.options.threads
        self._graph_opt_level = level
        return so

    def load(self, onnx_path):
        import time

        ort = import_onnxruntime()
        self._ort = ort
        threads_before = process_thread_count()
        t0 = time.perf_counter()
        self.session = ort.InferenceSession(str(onnx_path), self._session_options(ort),
                                            providers=self._provider_list())
        create_s = time.perf_counter() - t0
        threads_after = process_thread_count()
        #: threads the session added (its intra-op pool, without the caller); None: not counted
        self.threads_added = (threads_after - threads_before
                              if threads_before is not None and threads_after is not None else None)
        in_use = self.session.get_providers()
        if self.required_provider and (not in_use or in_use[0] != self.required_provider):
            # ORT silently falls back to CPU when a GPU provider fails to load: a slow number
            # that looks like a GPU number. Refuse it.
            raise RuntimeError(f"ONNX Runtime did not use {self.required_provider} "
                               f"(session providers: {in_use}); see `resnext-bench doctor`")
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.output_name = self.session.get_outputs()[0].name
        self.input_dtype = "float16" if "float16" in inp.type else "float32"
        self.load_info = {"onnxruntime_version": ort.__version__, "providers": in_use,
                          "graph_optimization_level": self._graph_opt_level,
                          "session_create_seconds": round(create_s, 3),
                          "input_dtype": self.input_dtype}

    def close(self):
        self.session = None


class OrtCpuRuntime(OrtSessionRuntime):
    name = "ort-cpu"
    int8_activations = "uint8"  # U8S8: the CPU provider's fast path on x86 without VNNI
    providers = ["CPUExecutionProvider"]
    required_provider = "CPUExecutionProvider"

    @classmethod
    def available(cls):
        if not module_present("onnxruntime"):
            return False, "onnxruntime is not installed (pip install 'resnext-bench[cpu]')"
        build = ort_build()
        if "CPUExecutionProvider" not in build["providers"]:
            return False, f"{describe_ort_build(build)} has no CPUExecutionProvider"
        return True, describe_ort_build(build)

    @classmethod
    def versions(cls):
        return ort_versions()

    def prepare(self, images):
        import numpy as np

        return {self.input_name: images.astype(np.float16 if self.input_dtype == "float16"
                                               else np.float32, copy=False)}

    def run(self, feeds):
        return self.session.run([self.output_name], feeds)[0]

    def describe(self):
        info = dict(self.load_info)
        # Asked, else counted: the default pool's size is ORT's choice (physical cores), and the
        # busy-host rule (core.verdict.contention) needs the real one.
        added = self.threads_added
        counted = added + 1 if added is not None and added >= 0 else None
        info["intra_op_threads_counted"] = counted
        info["threads_effective"] = self.options.threads or counted
        return info
