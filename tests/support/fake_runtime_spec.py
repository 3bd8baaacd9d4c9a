"""A runtime plugin's registry entry (``RESNEXT_BENCH_RUNTIMES=support.fake_runtime_spec``):
its spec and the option section of its own, nothing else. Its runtime class is
:mod:`support.fake_runtime`, imported only when a row runs it."""

from __future__ import annotations

from dataclasses import dataclass

from resnext_bench.config import RuntimeSpec, Section, register_runtime, setting


@dataclass(frozen=True)
class FakeOptions(Section):
    """The fake runtime's own option."""

    fake_spin: str = setting("on", "ort-fake: let ORT's intra-op threads spin between runs "
                             "(session.intra_op.allow_spinning).", kind="str", choices=("on", "off"))


register_runtime(RuntimeSpec("ort-fake", "support.fake_runtime", "FakeOrtRuntime", ("cpu",),
                             ("ort", "fake"), ("graph_opt_level", "fake_spin"), bundle="onnxruntime"),
                 sections={"fake": FakeOptions})
