"""Helpers shared by runtime modules: package versions, the CUDA/torch probe, and the ONNX
Runtime build that is *actually imported* (with a probe that proves a provider loads).

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
import tempfile

#: distributions that install the ``onnxruntime`` module
ORT_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino",
                     "onnxruntime-directml", "ort-nightly", "ort-nightly-gpu", "onnxruntime-training")
#: TensorRT major that onnxruntime-gpu 1.2x-1.31's TensorRT provider links (libnvinfer.so.10)
ORT_TRT_MAJOR = 10


def dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def module_present(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def process_thread_count() -> int | None:
    """Threads of this process (``/proc/self/task``), or None where there is no procfs.

    ONNX Runtime does not say how many intra-op threads its default pool got (the physical
    cores, within the affinity mask, depending on the version); counting the threads a session
    creation adds tells it: the pool's threads plus the caller, which runs a share itself."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def cuda_status() -> tuple[bool, str]:
    """Whether torch sees a usable CUDA GPU (GPU runtimes use torch for buffers, streams, events)."""
    if not module_present("torch"):
        return False, "torch is not installed (needed for CUDA buffers and events)"
    import torch

    if torch.version.cuda is None:
        return False, f"torch {torch.__version__} is a CPU-only build"
    if not torch.cuda.is_available():
        return False, f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA GPU"
    return True, f"{torch.cuda.get_device_name(0)}, torch CUDA {torch.version.cuda}"


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
    CUDA/cuDNN libraries that onnxruntime-gpu's CUDA provider loads (DESIGN.md). A GPU build
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


@contextlib.contextmanager
def captured_fds():
    """Capture what C++ code writes to file descriptors 1 and 2 (ORT's loader logs there)."""
    import sys

    saved = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        holder = {"text": ""}
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd in (1, 2):
            saved.append((fd, os.dup(fd)))
            os.dup2(sink.fileno(), fd)
        try:
            yield holder
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            holder["text"] = sink.read().decode(errors="replace")


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


def cuda_major_mismatch(ort_cuda: str | None) -> str | None:
    """A note when onnxruntime-gpu's CUDA major differs from torch's (torch loads the CUDA
    libraries ORT then uses, so the two should agree)."""
    if not ort_cuda or not module_present("torch"):
        return None
    import torch

    torch_cuda = torch.version.cuda
    if torch_cuda and ort_cuda.split(".")[0] != torch_cuda.split(".")[0]:
        return (f"onnxruntime-gpu is built for CUDA {ort_cuda} but torch ships CUDA {torch_cuda}: "
                f"install the onnxruntime-gpu build for CUDA {torch_cuda.split('.')[0]}")
    return None
