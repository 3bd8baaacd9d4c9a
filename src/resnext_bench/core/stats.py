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


def spread(values) -> float:
    """(max - min) / median: how far the same configuration moved between rounds (a run's
    ``round_spread``, the noise a verdict must see past); 0 for fewer than two values."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if v.size < 2:
        return 0.0
    return float((v.max() - v.min()) / np.median(v))


def round_stats(round_samples: list[list[float]]) -> dict:
    """Per-round medians and the spread between them, from the samples of each round.

    ``round_spread`` = (max - min) / median of the round medians: how far the same
    configuration moved between rounds of one run (the drift a comparison must see past).
    ``latency_cv`` = std / mean of all samples (the noise inside the run).
    """
    medians = [float(np.median(r)) for r in round_samples if len(r)]
    allv = np.asarray([v for r in round_samples for v in r], dtype=np.float64)
    mid = float(np.median(medians)) if medians else None
    return {
        "rounds": len(medians),
        "round_medians_ms": [round(m, 6) for m in medians],
        "round_spread": spread(medians) if medians and mid else None,
        "latency_cv": float(allv.std(ddof=1) / allv.mean()) if allv.size > 1 and allv.mean() else None,
    }


def min_samples_for(percentile: float) -> int:
    """Samples needed before ``percentile`` is estimated from at least 10 samples above it
    (p99: 1000, p95: 200, p90: 100, p50: 20); below that the report labels it."""
    return math.ceil(round(10 / (1 - percentile / 100), 6))


def percentile_bounds(samples, q: float = 0.99, z: float = 1.96) -> tuple[float, float] | None:
    """A distribution-free ~95 % interval of the ``q`` quantile from ``samples``: the order
    statistics at n*q -/+ z*sqrt(n*q*(1-q)) (the normal approximation of the binomial count of
    samples below the quantile). From 150 requests the p99's interval runs from about the 5th
    largest sample to the largest: a p99 measured over a limit is over it *beyond its sampling
    error* only when the interval's low end is."""
    import math

    n = len(samples)
    if n == 0:
        return None
    ordered = sorted(samples)
    half = z * math.sqrt(n * q * (1 - q))
    lo = max(0, min(n - 1, math.floor(n * q - half) - 1))
    hi = max(0, min(n - 1, math.ceil(n * q + half) - 1))
    return ordered[lo], ordered[hi]
