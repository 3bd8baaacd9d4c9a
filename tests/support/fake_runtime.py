"""The fake plugin runtime (:mod:`support.fake_runtime_spec`): ONNX Runtime's CPU provider
with one option of its own, ``fake_spin``, which it really sets on the session."""

from __future__ import annotations

from resnext_bench.runtimes.ort_cpu import OrtCpuRuntime


class FakeOrtRuntime(OrtCpuRuntime):
    name = "ort-fake"
    search_options = (({"fake_spin": "off"}, "no spinning between calls"),)

    def _session_options(self, ort):
        so = super()._session_options(ort)
        self._config_entry(so, "session.intra_op.allow_spinning",
                           "1" if self.options.fake.fake_spin == "on" else "0")
        return so
