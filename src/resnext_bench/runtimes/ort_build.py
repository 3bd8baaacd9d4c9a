"""The ONNX Runtime build that is *actually imported*, with a probe that proves a provider
loads.

Two facts shape this module:

* ``onnxruntime`` and ``onnxruntime-gpu`` provide the same module. What matters is the build
  that ``import onnxruntime`` loads (``onnxruntime.capi.build_and_package_info``), not which
  distributions pip lists: on the lent GPU machines the CPU package is preinstalled and the GPU
  wheel is put first on ``PYTHONPATH``, so both are listed and the GPU build is the one in use.
  Another distribution is then a note (it is shadowed), not a refusal.
* ``get_available_providers()`` lists the CUDA provider of a GPU build even when its libraries
  (``libcublasLt.so.13``...) are missing; a session then silently falls back to CPU and only
  stderr says why. :func:`probe_provider` creates a session for a one-node model on the
  provider, captures what the loader printed, and turns it into a one-line reason.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import io
import os
import re

from .fdcapture import captured_fds
from .packages import dist_version, module_present

#: distributions that install the ``onnxruntime`` module
ORT_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino",
                     "onnxruntime-directml", "ort-nightly", "ort-nightly-gpu", "onnxruntime-training")


def onnxruntime_packages() -> list[str]:
    """Installed distributions that provide the ``onnxruntime`` module."""
    return [n for n in ORT_DISTRIBUTIONS if dist_version(n) is not None]


def ort_module_dirs() -> dict[str, str]:
    """Installed ONNX Runtime distribution -> the folder its ``onnxruntime`` module lives in."""
    out = {}
    for name in onnxruntime_packages():
        try:
            path = importlib.metadata.distribution(name).locate_file("onnxruntime")
        except importlib.metadata.PackageNotFoundError:
            continue
        out[name] = os.path.realpath(str(path))
    return out


def overwritten_distributions() -> list[str]:
    """Distributions installed into the *same* folder: their files overwrite each other, so the
    module is a mix of two builds. (Different folders only shadow: the first on the path wins.)"""
    dirs = ort_module_dirs()
    return sorted(n for n, d in dirs.items() if list(dirs.values()).count(d) > 1)


def _nvidia_libs_dir() -> str | None:
    """The site-packages dir holding the ``nvidia`` CUDA/cuDNN wheels (torch's own), if any."""
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return os.path.dirname(locations[0]) if locations else None


def import_onnxruntime():
    """Import onnxruntime after torch when torch is present and a GPU-capable ONNX Runtime
    distribution is installed (not the plain CPU ``onnxruntime``): torch's CUDA packages ship the
    CUDA/cuDNN libraries that onnxruntime-gpu's CUDA provider loads. A GPU build
    also preloads them from the ``nvidia`` wheels beside torch (``preload_dlls``), which matters
    when the GPU wheel was installed into another folder than those wheels."""
    if module_present("torch") and any(n != "onnxruntime" for n in onnxruntime_packages()):
        import torch  # noqa: F401 -- only for a build that may load CUDA: the CPU package
        # needs none of it, and importing torch costs an ORT worker 1.7 s and about 260 MB of RSS
    import onnxruntime

    if ort_build(onnxruntime)["cuda_version"] and hasattr(onnxruntime, "preload_dlls") \
            and not getattr(onnxruntime, "_resnext_bench_preloaded", False):
        onnxruntime._resnext_bench_preloaded = True
        libs = _nvidia_libs_dir()
        if libs:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(Exception):
                onnxruntime.preload_dlls(msvc=False, directory=libs)  # prints what it loaded
    return onnxruntime


def ort_build(ort=None) -> dict:
    """The imported ONNX Runtime build: package name, version, CUDA version, providers, file,
    and the other installed distributions it shadows."""
    if ort is None:
        ort = import_onnxruntime()
    try:
        from onnxruntime.capi import build_and_package_info as info
        package, cuda = info.package_name, getattr(info, "cuda_version", None)
    except ImportError:  # very old builds
        package, cuda = None, None
    installed = onnxruntime_packages()
    return {"package": package, "version": ort.__version__, "cuda_version": cuda or None,
            "providers": list(ort.get_available_providers()), "file": ort.__file__,
            "shadowed": [p for p in installed if p != package]}


def describe_ort_build(build: dict) -> str:
    """``onnxruntime-gpu 1.31.1 (CUDA 13.0) from /x/onnxruntime``, plus a shadowing note."""
    text = f"{build['package'] or 'onnxruntime'} {build['version']}"
    if build["cuda_version"]:
        text += f" (CUDA {build['cuda_version']})"
    text += f" from {os.path.dirname(build['file'])}"
    if build["shadowed"]:
        text += f"; note: also installed, shadowed: {', '.join(build['shadowed'])}"
    return text


def probe_model_bytes() -> bytes:
    """A one-node float model (Relu) built with onnx.helper: the cheapest session to create."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def loader_reason(text: str) -> str:
    """The useful sentence of ORT's provider-loading log (the missing library, usually)."""
    text = _ANSI.sub("", text)
    m = re.search(r"Failed to load library (\S+) with error: ([^\n]+)", text)
    if m:
        return f"{os.path.basename(m.group(1))} could not load: {m.group(2).strip()}"
    for pattern in (r"(Failed to create \w+\.[^\n]*?)(?: Please|\n|$)", r"EP Error ([^\n]+)",
                    r"\[E:onnxruntime[^\]]*\] ([^\n]+)"):
        m = re.search(pattern, text)
        if m:
            return m.group(1).strip()[:300]
    return "the session fell back to another provider (ONNX Runtime printed no reason)"


def probe_provider(ort, provider: str, options: dict | None = None) -> tuple[bool, str]:
    """Create a session for a one-node model on ``provider`` alone; (loaded, reason)."""
    so = ort.SessionOptions()
    so.log_severity_level = 2
    with captured_fds() as out:
        try:
            session = ort.InferenceSession(probe_model_bytes(), so,
                                           providers=[(provider, options or {})])
            in_use = session.get_providers()
        except Exception as exc:  # some builds raise instead of falling back
            in_use, error = [], f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
        else:
            error = None
    if in_use and in_use[0] == provider:
        return True, f"{provider} loads"
    return False, error or loader_reason(out["text"])

