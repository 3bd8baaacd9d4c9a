"""The timing harness: warm-up, then timed iterations; raw samples kept.

* CPU runtimes: ``perf_counter_ns`` around ``run(prepared); synchronize()`` -- nothing else is
  inside the timed region (inputs are prepared once, outside it).
* GPU runtimes: compute time from CUDA events recorded on the runtime's own stream around
  ``run`` on device-resident buffers, and, separately, host end-to-end time around ``run_host``
  (host array in, host logits out: H2D + compute + D2H), trtexec's "GPU compute" / "latency".

Iterations continue until both ``iters`` samples and ``min_time_s`` seconds are reached (capped
by ``max_iters``); warm-up likewise runs ``warmup`` calls and at least ``warmup_time_s``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class TimingConfig:
    warmup: int = 10
    iters: int = 50
    min_time_s: float = 0.0
    warmup_time_s: float = 0.0
    max_iters: int = 100_000
    e2e_iters: int | None = None  # GPU host end-to-end samples; default: same as iters

    def validate(self):
        from ..errors import UsageError

        if self.warmup < 0 or self.iters < 1 or self.min_time_s < 0 or self.warmup_time_s < 0:
            raise UsageError("--warmup must be >= 0, --iters >= 1, --min-time >= 0")
        return self


@dataclass
class Timing:
    samples_ms: list[float]
    method: str
    warmup_done: int
    e2e_samples_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0


def _warmup(fn, cfg: TimingConfig) -> int:
    n, t0 = 0, time.perf_counter()
    while n < cfg.warmup or (time.perf_counter() - t0) < cfg.warmup_time_s:
        fn()
        n += 1
    return n


def _enough(n: int, started: float, cfg: TimingConfig) -> bool:
    if n >= cfg.max_iters:
        return True
    return n >= cfg.iters and (time.perf_counter() - started) >= cfg.min_time_s


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
        e2e_cfg = TimingConfig(warmup=0, iters=cfg.e2e_iters or cfg.iters, min_time_s=0.0)
        runtime.run_host(images)  # warm the host path (pinned staging, allocator)
        e2e = []
        clock = time.perf_counter_ns
        while len(e2e) < e2e_cfg.iters:
            t0 = clock()
            runtime.run_host(images)
            e2e.append((clock() - t0) / 1e6)
        return Timing(samples, "cuda_events", warm, e2e, time.perf_counter() - t_start)
    samples = time_host(runtime, prepared, cfg)
    return Timing(samples, "perf_counter_ns", warm, [], time.perf_counter() - t_start)
