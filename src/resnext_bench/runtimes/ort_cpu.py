"""``ort-cpu``: ONNX Runtime's CPUExecutionProvider.

``threads`` sets intra-op threads (default: ORT's own choice, the physical cores, which the row
records as counted: the threads session creation added, plus the caller); the graph
optimization level (default ``all``) and the providers actually in use are recorded in the row.
"""

from __future__ import annotations

from .ort_build import describe_ort_build, ort_build
from .ort_session import OrtSessionRuntime, ort_versions
from .packages import module_present


class OrtCpuRuntime(OrtSessionRuntime):
    name = "ort-cpu"
    dependency_rank = 0
    search_options = (({"graph_opt_level": "extended"}, "graph level extended (all adds layout "
                       "transforms that are not always faster)"),)
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
