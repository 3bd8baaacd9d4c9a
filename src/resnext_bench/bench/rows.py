"""One path from a configuration to a stored row.

:class:`RowBuilder` composes a :class:`~resnext_bench.core.schema.ResultRow` from the typed
parts a measurement produces -- the identity (:class:`RunIdentity` + combo), the prepare step's
:class:`~.protocol.Prepared` (complexity, artifact), the worker's :class:`~.protocol.Loaded`,
the timing of its blocks with the busy-host probe, and :class:`~.protocol.Finished` (memory,
the runtime's own settings, parity) -- or marks it skipped or failed. The parts stay typed up to
here; the row they fill is the schema's flat one (its JSON keys unchanged), and a consumer that
needs a part typed again reads it back (``runtime_info`` as the runtime family's settings:
:func:`resnext_bench.runtimes.registry.settings_of`).

:class:`RowSink` is where finished rows go, the same for a local run, a Ray sweep and ``ab``:
appended whole to the run dir (none for ``parity``), recorded for the time estimates, and
announced (:data:`~.events.Event.ROW`).
"""

from __future__ import annotations

import datetime as _dt
import platform
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..config import RunConfig
from ..core.rundir import append_row
from ..core.schema import Combo, ResultRow
from ..core.stats import round_stats
from ..models.spec import parse_arch
from .env import device_model
from .history import record_time
from .events import Event, silent
from .hostload import summarize_loads
from .protocol import Failed, Finished, Loaded, Prepared

#: said in every int8 row (and the report) instead of loosening the int8 tolerance
INT8_NOTE = ("int8 parity depends on the weights and the calibration data: on the default "
             "(untrained, calibrated) weights it describes the architecture, not a trained "
             "checkpoint (--weights FILE, or --weights digits for the trained reference)")


@dataclass
class RunIdentity:
    """What every row of one run carries: the run id, the environment's fingerprint, and
    extra keys beside the schema's (``tune_stage``)."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    env_fingerprint: str | None = None
    extra: dict = field(default_factory=dict)


class RowBuilder:
    """One row, composed part by part (each ``add_*`` takes one typed part)."""

    def __init__(self, combo: Combo, config: RunConfig, run: RunIdentity):
        spec = parse_arch(combo.arch)
        ex = config.export
        self.default_weights = ex.weights is None
        self.row = ResultRow(
            **combo.__dict__, family=spec.family, cardinality=spec.cardinality,
            width=spec.base_width, run_id=run.run_id, tool_version=__version__,
            node=platform.node(), device_model=device_model(combo.device),
            timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            env_fingerprint=run.env_fingerprint, seed=ex.seed,
            weights=ex.weights or "calibrated-default", extra=dict(run.extra))
        if config.timing.cpus:
            from ..config import parse_cpu_list

            self.row.cpus_pinned = list(parse_cpu_list(config.timing.cpus))

    def skipped(self, reason: str) -> "RowBuilder":
        self.row.update({"status": "skipped", "error": reason})
        return self

    def failed(self, failure: Failed) -> "RowBuilder":
        self.row.update(failure.row_fields())
        return self

    def add_prepared(self, p: Prepared) -> None:
        self.row.update(p.complexity)
        if p.artifact is not None:
            self.row.update(p.artifact.row_fields())
            if p.artifact.precision == "int8" and self.default_weights:
                self.row.note = INT8_NOTE  # said only where the default weights were used

    def add_loaded(self, loaded: Loaded) -> None:
        """The first worker's load (a respawned worker's load is not the row's)."""
        r = self.row
        r.load_seconds = loaded.load_seconds
        if loaded.requests_per_call > 1:
            r.requests_per_call = loaded.requests_per_call
        if loaded.timing_method is not None:
            r.warmup, r.timing_method = loaded.warmup, loaded.timing_method
        r.update(loaded.device_memory)

    def add_timing(self, blocks: list[list[float]], end_to_end: list[list[float]],
                   group_size: int, processes: int, loads: list, cpus) -> None:
        """The samples of each round's block, their statistics, the busy-host probe's reads."""
        r = self.row
        r.set_latency([v for b in blocks for v in b])
        r.update(round_stats(blocks))
        r.iters = r.latency_n
        r.group_size = group_size
        mean = r.latency_mean_ms
        if mean and r.flops:
            r.achieved_gflops = r.flops * r.batch * (r.requests_per_call or 1) / (mean / 1e3) / 1e9
        if any(end_to_end):
            r.set_latency([v for b in end_to_end for v in b], end_to_end=True)
        r.update(summarize_loads(loads, cpus))
        r.processes = processes

    def add_serving(self, served: list[dict]) -> None:
        """A row under load (:mod:`.loadgen`): its latencies are per request, queueing
        included; its throughput is what the server completed (requests x batch over the
        blocks' wall seconds), not the inverse of a call's time; and the CPU it used."""
        r = self.row
        wall = sum(b["wall_s"] for b in served)
        done = sum(b["completed"] for b in served)
        r.load_mode = served[0]["mode"]
        r.load_slots = served[0]["slots"]
        r.load_offered = sum(b["offered"] for b in served)
        r.load_completed = done
        r.load_unserved = sum(b["unserved"] for b in served)
        r.load_achieved_rps = round(done / wall, 3) if wall > 0 else None
        r.throughput_ips = round(done * r.batch / wall, 3) if wall > 0 else None
        r.load_round_throughput_ips = [round(b["completed"] * r.batch / b["wall_s"], 3)
                                       for b in served if b["wall_s"] > 0]
        r.cpu_used_cores = round(sum(b["cpu_s"] for b in served) / wall, 3) if wall > 0 else None
        if r.flops and r.throughput_ips:
            r.achieved_gflops = r.flops * r.throughput_ips / 1e9

    def add_control(self, readings: list[float] | None, threads: int | None = None) -> None:
        """The per-round readings (block means) of the control at the row's thread count
        (None: no control ran for it)."""
        if readings:
            from .control import CONTROL_VERSION

            self.row.control_rounds_ms = [round(m, 5) for m in readings]
            self.row.control_version = CONTROL_VERSION
            self.row.control_threads = threads

    def add_finished(self, f: Finished) -> None:
        r = self.row
        r.update(f.host_memory)
        r.runtime_info = f.settings.to_info()
        r.precision_executed = f.precision_executed
        if f.measure_seconds is not None:
            r.measure_seconds = f.measure_seconds
        if f.parity is not None:
            r.update(f.parity)


class RowSink:
    """Where finished rows go: ``out_dir``'s ``results.jsonl`` (appended whole; None keeps
    them in memory only, for ``parity`` and a Ray task), the time history under
    ``artifacts``, and the listener."""

    def __init__(self, out_dir: Path | None, artifacts: str | Path, total: int, emit=silent):
        self.out_dir, self.artifacts, self.total, self.emit = out_dir, artifacts, total, emit
        self.rows: list[ResultRow] = []

    @property
    def done(self) -> int:
        return len(self.rows)

    def group(self, index: int, groups: int, combos: list[Combo], rounds: int) -> None:
        self.emit(Event.GROUP, index=index, groups=groups, combos=combos, done=self.done,
                  total=self.total, rounds=rounds)

    def put(self, row: ResultRow) -> None:
        if self.out_dir is not None:
            append_row(self.out_dir, row)
            record_time(self.artifacts, row)
        self.rows.append(row)
        self.emit(Event.ROW, row=row, done=self.done, total=self.total)
