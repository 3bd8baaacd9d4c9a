"""Serving under concurrent requests: a closed and an open loop over one loaded runtime.

A server is judged by its clients' latency at a load, not by one caller's call time:

* **closed loop** (perf_analyzer's ``--concurrency-range``): ``concurrency`` clients, each
  sending one request and waiting for its answer before sending the next. A request's latency
  runs from its sending to its answer, the wait for a free serving slot included.
* **open loop** (``--request-rate-range``): requests arrive at ``rate`` per second, Poisson
  arrivals from a seeded generator, whether or not the server keeps up; they queue for the
  slots. A request's latency runs from its *scheduled* arrival (a late dispatcher does not hide
  queueing) to its answer. Arrivals stop at the block's end; the queue is then drained for at
  most :data:`DRAIN_FACTOR` x the block's seconds, and what is left is counted unserved: a
  rate beyond what the server sustains shows as unserved requests and a throughput below the
  rate, never as a p99 of only the lucky ones without saying so.

The serving slots are :meth:`~resnext_bench.runtimes.base.Runtime.serving_slots`: requests in
flight at once (OpenVINO infer requests on the compiled model's streams; concurrent ``run``
calls on one ONNX Runtime session or torch module). Each slot is served by a thread of this
process; the runtimes release the GIL while they compute.

Per block: every completed request's latency (ms), and the block's counts, wall seconds and
the process's CPU seconds (``time.process_time``: all its threads), so a row has throughput =
completed requests x batch / wall seconds and the CPU cores it used.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from dataclasses import dataclass

from ..config import RunConfig
from .harness import block_budget

#: the open loop's drain limit after arrivals stop, as a multiple of the block's seconds
DRAIN_FACTOR = 1.0
#: a block's own floor in seconds: a load needs time to reach its steady state
MIN_BLOCK_S = 0.5


@dataclass(frozen=True)
class LoadPoint:
    """One load: ``concurrency`` clients (closed) or ``rate`` requests/s (open), ``slots``
    requests served at once (None: the runtime's default for an open loop)."""

    concurrency: int | None = None
    rate: float | None = None
    slots: int | None = None
    seed: int = 0

    @property
    def mode(self) -> str:
        return "closed" if self.concurrency is not None else "open"

    @classmethod
    def of(cls, config: RunConfig, seed: int = 0) -> "LoadPoint | None":
        """The load a (pinned) configuration asks for; None: one caller, the timed path."""
        s = config.serve
        if s.concurrency is None and s.request_rate is None:
            return None
        return cls(s.concurrency, s.request_rate, s.serve_slots, seed)


@dataclass
class Served:
    """One block under load: counts, wall and CPU seconds (latencies travel as the samples)."""

    mode: str
    slots: int
    offered: int
    completed: int
    unserved: int
    wall_s: float
    cpu_s: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class _Server:
    """The serving side: one thread per slot taking requests from one FIFO queue (a fair
    queue: with a bare lock the client that just finished would take the slot again before
    the waiting ones, and the latency would show no queue). A request is its arrival time
    (``perf_counter_ns``) and, for a closed-loop client, the event it waits on."""

    def __init__(self, slots: list, x):
        self.x = x
        self.pending: queue.Queue = queue.Queue()
        self.latencies: list[list[float]] = [[] for _ in slots]
        self.errors: list[BaseException] = []
        self.abandon = threading.Event()
        self.threads = [threading.Thread(target=self._serve, args=(slot, out), daemon=True)
                        for slot, out in zip(slots, self.latencies)]
        for t in self.threads:
            t.start()

    def _serve(self, slot, out: list[float]) -> None:
        while True:
            item = self.pending.get()
            if item is None:
                return
            arrived, done = item
            if not self.abandon.is_set():  # past the drain limit: left unserved
                try:
                    slot(self.x)
                    out.append((time.perf_counter_ns() - arrived) / 1e6)
                except BaseException as exc:  # noqa: BLE001 -- re-raised in the caller's thread
                    self.errors.append(exc)
                    self.abandon.set()
            if done is not None:
                done.set()

    def submit(self, arrived: int, done: threading.Event | None = None) -> None:
        self.pending.put((arrived, done))

    def completed(self) -> int:
        return sum(map(len, self.latencies))

    def stop(self) -> tuple[list[float], int]:
        """(every latency, requests left unserved) once the slots' threads have ended."""
        unserved = self.pending.qsize()
        self.abandon.set()
        for _ in self.threads:
            self.pending.put(None)
        for t in self.threads:
            t.join()
        if self.errors:
            raise self.errors[0]
        return [v for out in self.latencies for v in out], unserved


def closed_loop(slots: list, x, clients: int, calls: int, seconds: float) -> tuple[list[float], Served]:
    """``clients`` threads, each sending a request and waiting for its answer, until
    ``seconds`` have passed and ``calls`` requests completed; in-flight requests finish and
    count. With a slot for every client no request ever waits, and each client calls its own
    slot (as benchmark_app's requests do: no hand-off between threads in the timed path)."""
    if len(slots) >= clients:
        return _direct_loop(slots[:clients], x, calls, seconds)
    server = _Server(slots, x)
    stop = threading.Event()

    def client() -> None:
        done = threading.Event()
        while not stop.is_set():
            done.clear()
            server.submit(time.perf_counter_ns(), done)
            done.wait()
            if server.errors:
                stop.set()

    wall, cpu = _drive([threading.Thread(target=client, daemon=True) for _ in range(clients)],
                       stop, server.completed, calls, seconds)
    samples, _ = server.stop()
    return samples, Served("closed", len(slots), len(samples), len(samples), 0, wall, cpu)


def _drive(clients: list, stop: threading.Event, completed, calls: int, seconds: float
           ) -> tuple[float, float]:
    """Start the client threads, stop them once ``seconds`` have passed and ``calls``
    requests completed (or a client failed and set ``stop``), join them: (wall, CPU) seconds."""
    cpu0, start = time.process_time(), time.perf_counter()
    for t in clients:
        t.start()
    while not stop.is_set():
        time.sleep(0.005)
        if time.perf_counter() - start >= seconds and completed() >= calls:
            stop.set()
    for t in clients:
        t.join()
    return time.perf_counter() - start, time.process_time() - cpu0


def _direct_loop(slots: list, x, calls: int, seconds: float) -> tuple[list[float], Served]:
    """The closed loop when every client has its own slot."""
    per_client: list[list[float]] = [[] for _ in slots]
    stop = threading.Event()
    errors: list[BaseException] = []
    clock = time.perf_counter_ns

    def client(slot, out: list[float]) -> None:
        try:
            while not stop.is_set():
                t0 = clock()
                slot(x)
                out.append((clock() - t0) / 1e6)
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the caller's thread
            errors.append(exc)
            stop.set()

    wall, cpu = _drive([threading.Thread(target=client, args=(s, out), daemon=True)
                        for s, out in zip(slots, per_client)],
                       stop, lambda: sum(map(len, per_client)), calls, seconds)
    if errors:
        raise errors[0]
    samples = [v for out in per_client for v in out]
    return samples, Served("closed", len(slots), len(samples), len(samples), 0, wall, cpu)


def arrivals(rate: float, seconds: float, rng: random.Random, at_least: int = 0) -> list[float]:
    """Poisson arrival offsets (s) over ``seconds`` (and on until ``at_least`` arrived, so a
    block never measures nothing): exponential gaps of mean 1/rate."""
    out, t = [], rng.expovariate(rate)
    while t < seconds or len(out) < at_least:
        out.append(t)
        t += rng.expovariate(rate)
    return out


def open_loop(slots: list, x, rate: float, seconds: float, rng: random.Random,
              drain_s: float, calls: int = 1) -> tuple[list[float], Served]:
    """Requests at Poisson arrivals for ``seconds`` (at least ``calls`` of them), queued for
    the slots; the queue drained for at most ``drain_s`` after the last arrival, what is left
    counted unserved."""
    offsets = arrivals(rate, seconds, rng, at_least=calls)
    server = _Server(slots, x)
    clock = time.perf_counter_ns
    cpu0, start_ns = time.process_time(), clock()
    for off in offsets:
        due = start_ns + int(off * 1e9)
        wait = (due - clock()) / 1e9
        if wait > 0:
            time.sleep(wait)
        server.submit(due)  # its scheduled arrival: a late dispatcher does not hide a queue
        if server.errors:
            break
    limit = time.perf_counter() + drain_s
    while not server.pending.empty() and time.perf_counter() < limit and not server.errors:
        time.sleep(0.005)  # requests already taken by a slot finish before the join
    samples, unserved = server.stop()
    wall, cpu = (clock() - start_ns) / 1e9, time.process_time() - cpu0
    return samples, Served("open", len(slots), len(offsets), len(samples), unserved, wall, cpu)


class LoadHarness:
    """The :class:`~.harness.Harness` of a row under load: :meth:`warm_up` once, then one
    :meth:`block` per round, each a closed or open loop for the round's share of the timing
    budget (at least :data:`MIN_BLOCK_S`); ``served`` holds the last block's counts."""

    #: how the samples were taken (a row's ``timing_method``)
    method = "perf_counter_ns per request (queueing included)"

    def __init__(self, runtime, images, cfg, point: LoadPoint):
        self.runtime, self.cfg, self.point = runtime, cfg, point
        self.prepared = runtime.prepare(images)
        n = point.concurrency if point.slots is None and point.mode == "closed" else point.slots
        self.slots = runtime.serving_slots(n or runtime.default_serving_slots())
        self.rng = random.Random(point.seed)
        self.wall_s = 0.0
        self.served: Served | None = None

    def warm_up(self) -> int:
        """``warmup`` calls spread over the slots, then every slot once at the same time (a
        stream's first request is its slowest)."""
        t0 = time.perf_counter()
        n = 0
        while n < self.cfg.warmup or (time.perf_counter() - t0) < self.cfg.warmup_time:
            self.slots[n % len(self.slots)](self.prepared)
            n += 1
        together = [threading.Thread(target=s, args=(self.prepared,)) for s in self.slots]
        for t in together:
            t.start()
        for t in together:
            t.join()
        self.wall_s += time.perf_counter() - t0
        return n + len(together)

    def block(self) -> tuple[list[float], list[float]]:
        calls, seconds = block_budget(self.cfg)
        seconds = max(seconds, MIN_BLOCK_S)
        t0 = time.perf_counter()
        if self.point.mode == "closed":
            samples, self.served = closed_loop(self.slots, self.prepared, self.point.concurrency,
                                               calls, seconds)
        else:
            seconds = max(seconds, calls / self.point.rate)
            samples, self.served = open_loop(self.slots, self.prepared, self.point.rate, seconds,
                                             self.rng, DRAIN_FACTOR * seconds, calls)
        self.wall_s += time.perf_counter() - t0
        return samples, []
