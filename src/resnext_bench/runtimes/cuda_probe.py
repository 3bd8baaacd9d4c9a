"""Whether torch sees a usable CUDA GPU: the GPU runtimes use torch for buffers, streams and
events, so every GPU runtime's ``available()`` asks this first."""

from __future__ import annotations

from .packages import module_present


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
