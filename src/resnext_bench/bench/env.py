"""The machine and software a run was measured on (``RUN_DIR/env.json``)."""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import math
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

from .. import __version__
from ..core.rundir import FINGERPRINT_KEYS
from ..core.isa import cpu_flags  # noqa: F401 (re-exported: bench.env.cpu_flags)
from ..runtimes import describe_runtimes
from ..runtimes.ort_build import onnxruntime_packages
from ..runtimes.packages import dist_version


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    """Commit of the resnext-bench checkout this code runs from (None when installed elsewhere)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def _nvidia_smi() -> dict:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            name, driver, mem, clock = [s.strip() for s in out.stdout.splitlines()[0].split(",")]
            return {"gpu_name": name, "driver": driver, "gpu_memory": mem, "gpu_max_sm_clock": clock}
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    return {}


@functools.lru_cache(maxsize=None)
def device_model(device: str) -> str:
    """What a row ran on, for grouping rows of different machines: the GPU's name for cuda rows
    (from nvidia-smi: no CUDA context in this process), the CPU model for cpu rows."""
    if device == "cuda":
        return _nvidia_smi().get("gpu_name") or "unknown GPU"
    return cpu_model()


def capture_env() -> dict:
    env = {
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "resnext_bench_version": __version__, "git_commit": _git_commit(),
        "hostname": socket.gethostname(), "python": sys.version.split()[0],
        "platform": platform.platform(), "cpu": cpu_model(), "cpu_flags": cpu_flags(),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": _mem_total_gb(),
        "packages": {n: dist_version(n) for n in ("torch", "onnx", "onnxscript", "numpy", "pandas",
                                                 "openvino", "onnxruntime-ep-openvino", "scikit-learn")},
        "onnxruntime_packages": {n: dist_version(n) for n in onnxruntime_packages()},
        "tensorrt": dist_version("tensorrt"),
        "argv": sys.argv,
    }
    try:
        import torch

        env["torch_cuda"] = torch.version.cuda
        env["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(0)
            env["gpu_capability"] = "sm%d%d" % torch.cuda.get_device_capability(0)
            env["cudnn"] = torch.backends.cudnn.version()
    except ImportError:
        pass
    env.update(_nvidia_smi())
    env["runtimes"] = describe_runtimes()
    return env


def fingerprint(env: dict) -> str:
    """12 hex digits over the machine and software that decide the numbers (rows carry it, so
    rows measured in different environments can be told apart without env.json)."""
    blob = json.dumps({k: env.get(k) for k in FINGERPRINT_KEYS}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def cpu_quota() -> int:
    """CPUs this process may use: the affinity mask, capped by the cgroup (v2 ``cpu.max`` or
    v1 ``cpu.cfs_quota_us``) quota, rounded up."""
    from .hostload import usable_cpus

    cpus = usable_cpus()
    for quota_file, period_file in (("/sys/fs/cgroup/cpu.max", None),
                                    ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
                                     "/sys/fs/cgroup/cpu/cpu.cfs_period_us")):
        try:
            text = Path(quota_file).read_text().split()
            if period_file is None:
                quota, period = text[0], text[1] if len(text) > 1 else "100000"
            else:
                quota, period = text[0], Path(period_file).read_text().strip()
            if quota not in ("max", "-1"):
                cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
            break
        except (OSError, ValueError, IndexError):
            continue
    return cpus
