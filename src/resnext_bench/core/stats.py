"""Summary statistics of raw latency samples (the raw samples are always kept beside them)."""

from __future__ import annotations

import math

import numpy as np

PERCENTILES = (50, 90, 95, 99)


def summarize(samples_ms, prefix: str = "latency_") -> dict:
    """p50/p90/p95/p99 (linear interpolation), mean, std (sample, ddof=1), min, max, n."""
    a = np.asarray(list(samples_ms), dtype=np.float64)
    if a.size == 0:
        return {f"{prefix}{k}": None for k in
                ["p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "max_ms"]} | {
            f"{prefix}n": 0}
    out = {f"{prefix}p{p}_ms": float(np.percentile(a, p)) for p in PERCENTILES}
    out[f"{prefix}mean_ms"] = float(a.mean())
    out[f"{prefix}std_ms"] = float(a.std(ddof=1)) if a.size > 1 else 0.0
    out[f"{prefix}min_ms"] = float(a.min())
    out[f"{prefix}max_ms"] = float(a.max())
    out[f"{prefix}n"] = int(a.size)
    return out


def throughput_ips(batch: int, mean_ms: float | None) -> float | None:
    """Images per second: batch / mean latency."""
    if not mean_ms or not math.isfinite(mean_ms) or mean_ms <= 0:
        return None
    return batch / (mean_ms / 1000.0)
