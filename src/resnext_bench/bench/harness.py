"""The timing harness: warm-up once, then timed blocks (one per round); raw samples kept.

* CPU runtimes: ``perf_counter_ns`` around ``run(prepared); synchronize()`` -- nothing else is
  inside the timed region (inputs are prepared once, outside it).
* GPU runtimes: compute time from CUDA events recorded on the runtime's own stream around
  ``run`` on device-resident buffers, and, separately, host end-to-end time around ``run_host``
  (host array in, host logits out: H2D + compute + D2H), trtexec's "GPU compute" / "latency".

A block runs one untimed call first (another configuration may have run in between and evicted
caches), then timed calls until both its call count and its seconds are reached (capped by
:data:`MAX_ITERS`). :meth:`Harness.block_budget` splits a configuration's ``iters`` /
``min_time`` (or ``duration``) evenly over the rounds.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from ..config import TimingConfig

#: hard cap on timed calls of one block, whatever ``iters`` / ``min_time`` ask (a
#: microsecond-scale call with a long ``min_time`` would otherwise collect millions of samples)
MAX_ITERS = 100_000


@dataclass
class Timing:
    samples_ms: list[float]
    method: str
    warmup_done: int
    e2e_samples_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0


def block_budget(cfg: TimingConfig) -> tuple[int, float]:
    """(calls, seconds) of one round's block: the per-configuration totals split over rounds."""
    if cfg.duration is not None:
        return 1, cfg.duration / cfg.rounds
    return math.ceil(cfg.iters / cfg.rounds), cfg.min_time / cfg.rounds


def _enough(n: int, started: float, calls: int, seconds: float) -> bool:
    if n >= MAX_ITERS:
        return True
    return n >= calls and (time.perf_counter() - started) >= seconds


def time_host(runtime, prepared, calls: int, seconds: float) -> list[float]:
    """perf_counter_ns around one synchronized call."""
    run, sync = runtime.run, runtime.synchronize
    clock = time.perf_counter_ns
    samples: list[float] = []
    started = time.perf_counter()
    while not _enough(len(samples), started, calls, seconds):
        t0 = clock()
        run(prepared)
        sync()
        samples.append((clock() - t0) / 1e6)
    return samples


def time_cuda_events(runtime, prepared, calls: int, seconds: float, chunk: int = 20) -> list[float]:
    """CUDA events on the runtime's stream around each ``run``; synchronized once per chunk."""
    import torch

    stream = runtime.cuda_stream
    samples: list[float] = []
    started = time.perf_counter()
    while not _enough(len(samples), started, calls, seconds):
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
    return samples  # chunks may overshoot the call count; every sample is kept


def time_end_to_end(runtime, images, calls: int, seconds: float) -> list[float]:
    """Host end-to-end time of ``run_host`` (copies included), with the same call / seconds
    rule as the compute samples; one untimed call first warms the host path."""
    runtime.run_host(images)
    clock = time.perf_counter_ns
    samples: list[float] = []
    started = time.perf_counter()
    while not _enough(len(samples), started, calls, seconds):
        t0 = clock()
        runtime.run_host(images)
        samples.append((clock() - t0) / 1e6)
    return samples


class Harness:
    """Times one loaded runtime on one host batch: :meth:`warm_up` once, then :meth:`block`
    once per round (the runner interleaves the blocks of several configurations)."""

    def __init__(self, runtime, images, cfg: TimingConfig):
        self.runtime, self.images, self.cfg = runtime, images, cfg
        self.prepared = runtime.prepare(images)
        self.method = "cuda_events" if runtime.is_cuda else "perf_counter_ns"
        self.wall_s = 0.0

    def _once(self) -> None:
        self.runtime.run(self.prepared)
        self.runtime.synchronize()

    def warm_up(self) -> int:
        t0 = time.perf_counter()
        n = 0
        while n < self.cfg.warmup or (time.perf_counter() - t0) < self.cfg.warmup_time:
            self._once()
            n += 1
        self.wall_s += time.perf_counter() - t0
        return n

    def block(self) -> tuple[list[float], list[float]]:
        """One round's (compute samples, end-to-end samples; the latter on GPU only)."""
        t0 = time.perf_counter()
        calls, seconds = block_budget(self.cfg)
        self._once()  # untimed: caches may be cold after another configuration's block
        if self.runtime.is_cuda:
            samples = time_cuda_events(self.runtime, self.prepared, calls, seconds)
            e2e = time_end_to_end(self.runtime, self.images, calls, seconds)
        else:
            samples, e2e = time_host(self.runtime, self.prepared, calls, seconds), []
        self.wall_s += time.perf_counter() - t0
        return samples, e2e


def measure(runtime, images, cfg: TimingConfig) -> Timing:
    """Warm up and time ``runtime`` alone, all rounds back to back (benchmarks, tests)."""
    h = Harness(runtime, images, cfg)
    warm = h.warm_up()
    samples, e2e = [], []
    for _ in range(cfg.rounds):
        s, e = h.block()
        samples += s
        e2e += e
    return Timing(samples, h.method, warm, e2e, h.wall_s)
