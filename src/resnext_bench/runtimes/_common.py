"""Small helpers shared by runtime modules: package versions and the CUDA/torch probe."""

from __future__ import annotations

import importlib.metadata
import importlib.util


def dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def module_present(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


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
    """Installed distributions that provide the ``onnxruntime`` module (more than one clash)."""
    names = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml",
             "ort-nightly", "ort-nightly-gpu", "onnxruntime-training")
    return [n for n in names if dist_version(n) is not None]


def import_onnxruntime():
    """Import onnxruntime after torch when torch is present: torch's CUDA packages ship the
    CUDA/cuDNN libraries that onnxruntime-gpu's CUDA provider loads (DESIGN.md)."""
    if module_present("torch"):
        import torch  # noqa: F401
    import onnxruntime

    return onnxruntime
