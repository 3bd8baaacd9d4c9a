"""Run combos of a :class:`~resnext_bench.config.RunConfig`: interleaved rounds over worker
processes, one :class:`ResultRow` per combo appended to ``RUN_DIR/results.jsonl``.

Combos are grouped by (arch, image size) -- at most ``group_size`` per group. Within a group
every usable combo gets its own worker (:mod:`.worker`), loaded one after the other; then the
group is timed in ``rounds`` rounds, each worker timing one block per round, round-robin, the
order rotated each round (asv's interleaving: the slow drift of a shared machine hits every
configuration alike, and ratios taken within a run are trustworthy). With ``processes`` > 1 the
rounds are split into that many spans and every configuration gets a fresh worker for each
span (pyperf's and asv's several processes: a bias that sticks to one process becomes spread
between rounds). Each block is bracketed by the busy-host probe (:mod:`.hostload`). Last, each
worker probes memory and checks parity, and the group's rows are appended, whole.

An unusable runtime (or a precision or device it does not run) is a ``skipped`` row with the
reason; a worker that raises or dies is a ``failed`` row naming the error or the signal, and the
run goes on. The parent process never loads a model.
"""

from __future__ import annotations

import datetime as _dt
import platform
import time
import uuid
from pathlib import Path

from .. import __version__
from ..config import RunConfig
from ..core.fileio import ensure_dir
from ..core.rundir import RESULTS, append_row, record_env
from ..core.schema import Combo, ResultRow
from ..core.stats import round_stats
from ..models.spec import parse_arch
from .env import device_model
from .estimate import record_time
from .hostload import HostLoadProbe, summarize_loads
from .worker import Worker, WorkerDied, WorkerError, prepare_main


#: pause before each block: the runtime threads of the worker that just finished its block must
#: park first. ONNX Runtime's intra-op threads spin after a run; measured here (2 cores,
#: resnet18 64 px, ort-cpu) the next worker's block ran 2x slower without a pause, and at the
#: speed of a worker alone with a 50 ms pause.
SETTLE_S = 0.1


def group_combos(combos: list[Combo], group_size: int) -> list[list[Combo]]:
    """Groups of at most ``group_size`` combos sharing (arch, image size, device): interleaving
    a CPU measurement with a GPU one would compare nothing.

    A larger set is cut between *comparison units* -- combos that differ only in block form or
    runtime at one (batch, threads, precision) -- so the configurations a report sets side by
    side (forms a/b/c; runtimes at one batch) are measured in the same rounds; a unit larger
    than ``group_size`` is cut by itself."""
    by_key: dict[tuple, list[Combo]] = {}
    for c in combos:
        by_key.setdefault((c.arch, c.image_size, c.device), []).append(c)
    groups = []
    for members in by_key.values():
        units: dict[tuple, list[Combo]] = {}
        for c in members:
            units.setdefault((c.batch, str(c.threads), c.precision), []).append(c)
        current: list[Combo] = []
        for unit in units.values():
            if current and len(current) + len(unit) > group_size:
                groups.append(current)
                current = []
            for i in range(0, len(unit), group_size):
                chunk = unit[i:i + group_size]
                if len(chunk) == group_size:
                    groups.append(chunk)
                else:
                    current += chunk
        if current:
            groups.append(current)
    return groups


def round_orders(n: int, rounds: int) -> list[list[int]]:
    """The order of n members in each round: round r starts with member r mod n."""
    return [[(r + i) % n for i in range(n)] for r in range(rounds)]


def span_starts(rounds: int, processes: int) -> set[int]:
    """Rounds at which the next of ``processes`` workers takes over: the rounds are cut into
    ``processes`` spans as even as they can be (round 0 is the first worker's)."""
    return {r for r in range(1, rounds) if r * processes // rounds != (r - 1) * processes // rounds}


def _silent(kind, **info):
    pass


class Runner:
    def __init__(self, config: RunConfig, out_dir: str | Path, *, measure_timing: bool = True,
                 worker_target=None):
        self.config = config
        self.worker_target = worker_target  # tests: a wrapper of worker.worker_main
        self.measure_timing = measure_timing  # False: parity only (`resnext-bench parity`)
        self.out_dir = ensure_dir(out_dir, "run dir")
        ensure_dir(config.export.artifacts, "artifacts dir")
        self.results_path = self.out_dir / RESULTS
        self.run_id = uuid.uuid4().hex[:12]
        self.env_fingerprint: str | None = None
        #: keys every row of this runner carries beside the schema's (``tune_stage``)
        self.row_extra: dict = {}

    def write_env(self) -> dict:
        from .env import capture_env, fingerprint

        from .resume import result_settings

        env = capture_env()
        env["config"] = self.config.to_values()
        env["result_settings"] = result_settings(self.config)
        self.env_fingerprint = fingerprint(env)
        env["fingerprint"] = self.env_fingerprint
        return record_env(self.out_dir, env)

    # -- rows -----------------------------------------------------------------------------------
    def base_row(self, combo: Combo, config: RunConfig | None = None) -> ResultRow:
        spec = parse_arch(combo.arch)
        ex = (config or self.config).export
        return ResultRow(**combo.__dict__, family=spec.family, cardinality=spec.cardinality,
                         width=spec.base_width, run_id=self.run_id, tool_version=__version__,
                         node=platform.node(), device_model=device_model(combo.device),
                         timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                         env_fingerprint=self.env_fingerprint, seed=ex.seed,
                         weights=ex.weights or "calibrated-default", extra=dict(self.row_extra))

    @staticmethod
    def skip_reason(combo: Combo) -> str | None:
        from ..runtimes.registry import check_available, get_runtime_class

        cls = get_runtime_class(combo.runtime)
        ok, reason = check_available(combo.runtime)
        if not ok:
            return f"runtime unavailable: {reason}"
        if combo.precision not in cls.precisions:
            return f"{combo.runtime} does not run {combo.precision} (supports {', '.join(cls.precisions)})"
        problem = cls.precision_problem(combo.precision)
        if problem:
            return problem
        if combo.device not in cls.devices:
            return f"{combo.runtime} does not run on {combo.device}"
        return None

    def _record_timing(self, row: ResultRow, blocks: list[list[float]], e2e: list[list[float]],
                       group_size: int) -> None:
        row.set_latency([v for b in blocks for v in b])
        row.update(round_stats(blocks))
        row.iters = row.latency_n
        row.group_size = group_size
        mean = row.latency_mean_ms
        if mean and row.flops:
            row.achieved_gflops = row.flops * row.batch * (row.requests_per_call or 1) / (mean / 1e3) / 1e9
        if any(e2e):
            row.set_latency([v for b in e2e for v in b], end_to_end=True)

    def _prepare(self, jobs: list[tuple[RunConfig, Combo]], max_batch: int) -> list[dict]:
        """Exports and parity references of a group, made in one short-lived process; per job
        its complexity fields, or its error fields (an ``error`` key)."""
        if not jobs:
            return []
        w = Worker(jobs, None, max_batch, self.measure_timing, target=prepare_main)
        try:
            return w.call("prepare")
        except (WorkerDied, WorkerError) as exc:
            return [{"error": f"preparing artifacts: {exc}"}] * len(jobs)
        except KeyboardInterrupt:
            w.close(now=True)
            raise
        finally:
            w.close()

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, combos: list[Combo], on_event=None) -> list[ResultRow]:
        """Measure ``combos`` group by group; rows are appended as each group finishes.

        ``on_event(kind, **info)`` hears ``group``, ``load``, ``round``, ``block`` (with the
        worker's ``pid``) and ``row`` events (progress lines; tests use ``block`` to kill a worker).
        """
        emit = on_event or _silent
        groups = group_combos(combos, self.config.timing.group_size)
        max_batch = max([c.batch for c in combos], default=1)
        rows: list[ResultRow] = []
        done = 0
        for gi, group in enumerate(groups):
            emit("group", index=gi, groups=len(groups), combos=group, done=done, total=len(combos),
                 rounds=self.config.timing.rounds if self.measure_timing else 0)
            for row in self.run_jobs([(self.config, c) for c in group], max_batch, emit):
                append_row(self.out_dir, row)
                record_time(self.config.export.artifacts, row)
                rows.append(row)
                done += 1
                emit("row", row=row, done=done, total=len(combos))
        return rows

    def run_jobs(self, jobs: list[tuple[RunConfig, Combo]], max_batch: int,
                 emit=_silent) -> list[ResultRow]:
        """Measure one group: ``jobs`` are (config, combo) pairs -- one config for a plan's
        group, two for an A/B job -- interleaved round by round (rounds of the first config)."""
        workers: dict[int, Worker] = {}
        jobs = [(cfg.pinned(c.settings), c) for cfg, c in jobs]  # each row runs its own settings
        try:
            return self._run_jobs(jobs, max_batch, emit, workers)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the workers go now, not after a block
            for w in workers.values():
                w.close(now=True)
            workers.clear()
            raise
        finally:  # a usage error from a worker stops the run: leave no process behind
            for w in workers.values():
                w.close()

    def _run_jobs(self, jobs, max_batch, emit, workers: dict) -> list[ResultRow]:
        rows = [self.base_row(c, cfg) for cfg, c in jobs]

        def fail(i, exc):
            fields = exc.fields if isinstance(exc, WorkerError) else {"error": f"WorkerDied: {exc}"}
            rows[i].update({"status": "failed", **fields})
            workers.pop(i).close()

        def start(i) -> dict:
            """A worker for job i, loaded and warmed up; its load fields ({} if it failed)."""
            emit("load", combo=jobs[i][1])
            workers[i] = Worker(jobs[i][0], jobs[i][1], max_batch, self.measure_timing,
                                self.worker_target)
            try:
                return workers[i].call("load")
            except (WorkerDied, WorkerError) as exc:
                fail(i, exc)
                return {}

        usable = []
        for i, (_cfg, c) in enumerate(jobs):
            reason = self.skip_reason(c)
            if reason:
                rows[i].update({"status": "skipped", "error": reason})
            else:
                usable.append(i)
        prepared = self._prepare([jobs[i] for i in usable], max_batch)
        for i, fields in zip(usable, prepared):
            if "error" in fields:
                rows[i].update({"status": "failed", **fields})
                continue
            rows[i].update(fields)  # complexity
            rows[i].update(start(i))
        blocks = {i: [] for i in workers}
        e2e = {i: [] for i in workers}
        loads = {i: [] for i in workers}
        probe = HostLoadProbe()
        if self.measure_timing and workers:
            members = list(workers)
            rounds = jobs[0][0].timing.rounds
            processes = min(jobs[0][0].timing.processes, rounds)
            respawn_at = span_starts(rounds, processes)
            for r, order in enumerate(round_orders(len(members), rounds)):
                emit("round", round=r, rounds=rounds, size=len(members))
                if r in respawn_at:
                    # the next process's turn: a fresh worker per member, loaded (and warmed
                    # up) before any block of this round, while the others are idle; the row
                    # keeps the first worker's load fields
                    for i in [i for i in members if i in workers]:
                        workers.pop(i).close()
                        start(i)
                for m in order:
                    i = members[m]
                    if i not in workers:
                        continue  # died in an earlier round
                    emit("block", combo=jobs[i][1], round=r, pid=workers[i].pid)
                    time.sleep(SETTLE_S)
                    pid = workers[i].pid
                    before = probe.read(pid)
                    try:
                        samples, end_to_end = workers[i].call("block")
                    except (WorkerDied, WorkerError) as exc:
                        fail(i, exc)
                        continue
                    loads[i].append(probe.since(before, pid))
                    blocks[i].append(samples)
                    e2e[i].append(end_to_end)
            for i in workers:
                self._record_timing(rows[i], blocks[i], e2e[i], len(members))
                rows[i].update(summarize_loads(loads[i], probe.cpus))
                rows[i].processes = processes
        for i in list(workers):
            try:
                rows[i].update(workers[i].call("finish"))
            except (WorkerDied, WorkerError) as exc:
                fail(i, exc)
                continue
            workers.pop(i).close()
        return rows
