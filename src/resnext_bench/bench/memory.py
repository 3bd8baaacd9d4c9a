"""Host and device memory probes for one measurement.

Peak host RSS: Linux keeps a per-process high-water mark (VmHWM) that can be reset by writing
``5`` to ``/proc/self/clear_refs``; resetting it before a runtime is loaded makes the peak cover
that runtime's load + measurement (plus whatever the process already held, recorded separately
as the baseline). Elsewhere ``ru_maxrss`` (process-lifetime peak) is used and the row says so.
Device memory: ``cudaMemGetInfo`` used-bytes delta, which includes allocator caches/arenas --
what the runtime really holds on the GPU.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")


def _status_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def current_rss_mb() -> float | None:
    kb = _status_kb("VmRSS")
    return kb / 1024 if kb is not None else None


def peak_rss_mb() -> tuple[float, str]:
    kb = _status_kb("VmHWM")
    if kb is not None:
        return kb / 1024, "VmHWM"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024), "ru_maxrss (process lifetime)"


class MemoryProbe:
    """``start()`` before load; ``device_fields()`` after load and warm-up (in a worker, while
    the other workers of its group are idle, so the device-wide delta is this configuration's);
    ``host_fields()`` after measuring (the worker process's own peak RSS)."""

    def __init__(self, cuda: bool = False):
        self.cuda = cuda

    def _gpu_used_mb(self):
        import torch

        free, total = torch.cuda.mem_get_info()
        return (total - free) / 2**20

    def start(self):
        self.reset_ok = reset_peak_rss()
        self.base_rss = current_rss_mb()
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base_gpu = self._gpu_used_mb()
        return self

    def device_fields(self) -> dict:
        if not self.cuda:
            return {}
        import torch

        torch.cuda.synchronize()
        return {"device_mem_mb": round(self._gpu_used_mb() - self.base_gpu, 1),
                "device_mem_method": "cudaMemGetInfo used-bytes delta over load + warm-up "
                                     "(incl. allocator caches and workspaces)",
                "torch_peak_allocated_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)}

    def host_fields(self) -> dict:
        peak, method = peak_rss_mb()
        if not self.reset_ok:
            method += " (peak not resettable: covers the whole process)"
        return {"peak_rss_mb": round(peak, 1), "rss_baseline_mb": round(self.base_rss or 0, 1),
                "peak_rss_method": method}
