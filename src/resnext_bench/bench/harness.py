"""The timing harness: warm-up, then timed iterations; raw samples kept.

* CPU runtimes: ``perf_counter_ns`` around ``run(prepared); synchronize()`` -- nothing else is
  inside the timed region (inputs are prepared once, outside it).
* GPU runtimes: compute time from CUDA events recorded on the runtime's own stream around
  ``run`` on device-resident buffers, and, separately, host end-to-end time around ``run_host``
  (host array in, host logits out: H2D + compute + D2H), trtexec's "GPU compute" / "latency".

Iterations continue until both ``iters`` samples and ``min_time`` seconds are reached (capped
by :data:`MAX_ITERS`); warm-up likewise runs ``warmup`` calls and at least ``warmup_time``
seconds. The GPU end-to-end loop follows the same rule.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..config import TimingConfig


#: hard cap on timed calls, whatever ``iters`` / ``min_time`` ask (a microsecond-scale call with
#: a long ``min_time`` would otherwise collect millions of samples)
MAX_ITERS = 100_000


@dataclass
class Timing:
    samples_ms: list[float]
    method: str
    warmup_done: int
    e2e_samples_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0


def _warmup(fn, cfg: TimingConfig) -> int:
    n, t0 = 0, time.perf_counter()
    while n < cfg.warmup or (time.perf_counter() - t0) < cfg.warmup_time:
        fn()
        n += 1
    return n


def _enough(n: int, started: float, cfg: TimingConfig) -> bool:
    if n >= MAX_ITERS:
        return True
    return n >= cfg.iters and (time.perf_counter() - started) >= cfg.min_time


def time_host(runtime, prepared, cfg: TimingConfig) -> list[float]:
    """perf_counter_ns around one synchronized call."""
    run, sync = runtime.run, runtime.synchronize
    clock = time.perf_counter_ns
    samples: list[float] = []
    started = time.perf_counter()
    while not _enough(len(samples), started, cfg):
        t0 = clock()
        run(prepared)
        sync()
        samples.append((clock() - t0) / 1e6)
    return samples


def time_cuda_events(runtime, prepared, cfg: TimingConfig, chunk: int = 20) -> list[float]:
    """CUDA events on the runtime's stream around each ``run``; synchronized once per chunk."""
    import torch

    stream = runtime.cuda_stream
    samples: list[float] = []
    started = time.perf_counter()
    while not _enough(len(samples), started, cfg):
        pairs = []
        for _ in range(chunk):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record(stream)
            runtime.run(prepared)
            end.record(stream)
            pairs.append((start, end))
        runtime.synchronize()
        torch.cuda.synchronize()
        samples.extend(s.elapsed_time(e) for s, e in pairs)
    return samples  # chunks may overshoot iters; every sample is kept


def time_end_to_end(runtime, images, cfg: TimingConfig) -> list[float]:
    """Host end-to-end time of ``run_host`` (copies included), with the same iters / min-time
    rule as the compute samples; one untimed call first warms the host path."""
    runtime.run_host(images)
    clock = time.perf_counter_ns
    samples: list[float] = []
    started = time.perf_counter()
    while not _enough(len(samples), started, cfg):
        t0 = clock()
        runtime.run_host(images)
        samples.append((clock() - t0) / 1e6)
    return samples


def measure(runtime, images, cfg: TimingConfig) -> Timing:
    """Time ``runtime`` on host array ``images`` (one batch)."""
    t_start = time.perf_counter()
    prepared = runtime.prepare(images)

    def once():
        runtime.run(prepared)
        runtime.synchronize()

    warm = _warmup(once, cfg)
    if runtime.is_cuda:
        samples = time_cuda_events(runtime, prepared, cfg)
        e2e = time_end_to_end(runtime, images, cfg)
        return Timing(samples, "cuda_events", warm, e2e, time.perf_counter() - t_start)
    samples = time_host(runtime, prepared, cfg)
    return Timing(samples, "perf_counter_ns", warm, [], time.perf_counter() - t_start)
