"""Run combos of a :class:`~resnext_bench.config.RunConfig`: interleaved rounds over worker
processes, one :class:`ResultRow` per combo, kept by a :class:`~.rows.RowSink`.

Combos are grouped by (arch, image size) -- at most ``group_size`` per group. Within a group
every usable combo gets its own worker (:mod:`.worker`), loaded one after the other; then the
group is timed in ``rounds`` rounds, each worker timing one block per round, round-robin, the
order rotated each round (asv's interleaving: the slow drift of a shared machine hits every
configuration alike, and ratios taken within a run are trustworthy). With ``processes`` > 1 the
rounds are split into that many spans and every configuration gets a fresh worker for each
span (pyperf's and asv's several processes: a bias that sticks to one process becomes spread
between rounds). Each block is bracketed by the busy-host probe (:mod:`.hostload`). Last, each
worker probes memory and checks parity, and the group's rows are appended, whole. The group's
artifacts are made and verified once, in a short-lived prepare process, and each measuring
worker gets the verified :class:`~resnext_bench.exporters.artifact.Artifact` (messages:
:mod:`.protocol`).

An unusable runtime (or a precision or device it does not run) is a ``skipped`` row with the
reason; a worker that raises or dies is a ``failed`` row naming the error or the signal, and the
run goes on. The parent process never loads a model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import RunConfig
from ..core.fileio import ensure_dir
from ..core.rundir import RESULTS, record_env
from ..core.schema import Combo, ResultRow
from .events import Event, silent
from .hostload import HostLoadProbe
from .protocol import Command, Failed, Job, Prepared
from .rows import RowBuilder, RowSink, RunIdentity
from .worker import Worker, WorkerDied, WorkerError, prepare_main


#: pause before each block: the runtime threads of the worker that just finished its block must
#: park first. ONNX Runtime's intra-op threads spin after a run; measured here (2 cores,
#: resnet18 64 px, ort-cpu) the next worker's block ran 2x slower without a pause, and at the
#: speed of a worker alone with a 50 ms pause.
SETTLE_S = 0.1
#: the control's turn in a round's order (bench/control.py)
CONTROL_TURN = -1


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


class Runner:
    """Measures combos of one :class:`~resnext_bench.config.RunConfig`.

    ``out_dir``: the run dir rows are appended to (None: rows are only returned -- ``parity``,
    a Ray task); ``timed=False`` measures parity only; ``extra``: keys every row carries beside
    the schema's (``tune_stage``); ``worker_target``: tests pass a wrapper of
    :func:`~.worker.worker_main` to inject faults into the worker."""

    def __init__(self, config: RunConfig, out_dir: str | Path | None = None, *, timed: bool = True,
                 extra: dict | None = None, worker_target=None):
        self.config = config
        self.timed = timed
        self.worker_target = worker_target
        self.out_dir = None if out_dir is None else ensure_dir(out_dir, "run dir")
        if self.out_dir is not None and (self.out_dir / RESULTS).is_dir():
            from ..core.errors import UsageError

            raise UsageError(f"{self.out_dir / RESULTS} is a directory, not the run's results "
                             "file: choose another --out (nothing was measured)")
        ensure_dir(config.export.artifacts, "artifacts dir")
        self.identity = RunIdentity(extra=dict(extra or {}))

    @property
    def results_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / RESULTS

    def write_env(self) -> dict:
        from .env import capture_env, fingerprint
        from .resume import result_settings

        env = capture_env()
        env["config"] = self.config.to_values()
        env["result_settings"] = result_settings(self.config)
        if self.config.timing.cpus:
            from ..config import parse_cpu_list

            env["cpus_pinned"] = list(parse_cpu_list(self.config.timing.cpus))
        if self.timed and self.config.timing.control:
            from .control import CONTROL_NAME, CONTROL_VERSION

            env["control"] = {"version": CONTROL_VERSION, "workload": CONTROL_NAME,
                              "threads": "each row's own (control_threads), one worker per count",
                              "reading": "the block's mean call"}
        self.identity.env_fingerprint = fingerprint(env)
        env["fingerprint"] = self.identity.env_fingerprint
        return record_env(self.out_dir, env)

    def job(self, combo: Combo, config: RunConfig | None = None) -> Job:
        return Job.for_combo(config or self.config, combo, timed=self.timed)

    def row(self, combo: Combo, config: RunConfig | None = None) -> RowBuilder:
        return RowBuilder(combo, config or self.config, self.identity)

    @staticmethod
    def skip_reason(combo: Combo) -> str | None:
        """Why ``combo`` becomes a skipped row (:func:`.plan.why_not`)."""
        from .plan import why_not

        return why_not(combo)

    def sink(self, total: int, emit=silent) -> RowSink:
        return RowSink(self.out_dir, self.config.export.artifacts, total, emit)

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, combos: list[Combo], on_event=None) -> list[ResultRow]:
        """Measure ``combos`` group by group; each group's rows go to the sink as it finishes
        (:mod:`.events` says what ``on_event`` hears)."""
        emit = on_event or silent
        groups = group_combos(combos, self.config.timing.group_size)
        sink = self.sink(len(combos), emit)
        for gi, group in enumerate(groups):
            sink.group(gi, len(groups), group, self.config.timing.rounds if self.timed else 0)
            for row in self.measure_group([self.job(c) for c in group], emit):
                sink.put(row)
        return sink.rows

    def measure_group(self, jobs: list[Job], emit=silent) -> list[ResultRow]:
        """Measure one group of jobs interleaved round by round (the rounds and processes of
        the first job's config: an A/B job's two configs share them); one row per job."""
        group = GroupRun(self, jobs, emit)
        try:
            return group.run()
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the workers go now, not after a block
            group.close(now=True)
            raise
        finally:  # a usage error from a worker stops the run: leave no process behind
            group.close()


@dataclass
class Member:
    """One job of a group: its row being built, its worker, what its blocks measured."""

    job: Job
    row: RowBuilder
    prepared: Prepared | None = None
    worker: Worker | None = None
    blocks: list = field(default_factory=list)
    end_to_end: list = field(default_factory=list)
    loads: list = field(default_factory=list)
    served: list = field(default_factory=list)  # blocks under load: counts, wall, CPU seconds


class GroupRun:
    """One group's measurement: prepare, load each member, the interleaved rounds (with a
    fresh worker per member at each process span), finish."""

    def __init__(self, runner: Runner, jobs: list[Job], emit):
        self.runner, self.emit = runner, emit
        self.members = [Member(j, runner.row(j.combo, j.config)) for j in jobs]
        self.probe = HostLoadProbe()
        #: the control's workers and per-round readings (block means), by thread count (bench/control.py)
        self.controls: dict[int, Worker] = {}
        self.control_readings: dict[int, list[float]] = {}

    # -- workers --------------------------------------------------------------------------------
    def _fail(self, m: Member, exc: Exception) -> None:
        m.row.failed(exc.failed if isinstance(exc, WorkerError) else Failed(f"WorkerDied: {exc}"))
        self._stop(m)

    def _stop(self, m: Member, *, now: bool = False) -> None:
        if m.worker is not None:
            m.worker.close(now=now)
            m.worker = None

    def _start(self, m: Member, *, first: bool) -> None:
        """A worker for ``m`` with its verified artifact, loaded and warmed up; the row keeps
        the first worker's load."""
        self.emit(Event.LOAD, combo=m.job.combo)
        m.worker = Worker(m.job, m.prepared.artifact, target=self.runner.worker_target)
        try:
            loaded = m.worker.call(Command.LOAD)
        except (WorkerDied, WorkerError) as exc:
            self._fail(m, exc)
            return
        if first:
            m.row.add_loaded(loaded)

    def close(self, *, now: bool = False) -> None:
        for m in self.members:
            self._stop(m, now=now)
        self._close_controls(now=now)

    # -- the control (bench/control.py) ---------------------------------------------------------
    def _control_key(self, m: Member) -> int | None:
        """The control thread count for ``m``'s rows; None for a row off the CPU (the control
        measures the CPU, a GPU's drift is its own)."""
        from .control import control_threads

        combo = m.job.combo
        return control_threads(combo.threads) if combo.device == "cpu" else None

    def _spawn_control(self) -> None:
        """Start the control's workers now, one per thread count among the CPU members: they
        load while the group prepares (no wall time)."""
        from ..config import env_off
        from ..core.verdict import MIN_ROUNDS

        config = self.members[0].job.config if self.members else None
        if not self.runner.timed or config is None or not config.timing.control:
            return
        if "control" not in config.given and env_off("control"):
            return
        if config.timing.rounds < MIN_ROUNDS:  # compare judges through it from 3 rounds on
            return
        from .control import control_main

        for threads in sorted({k for k in map(self._control_key, self.members) if k is not None}):
            self.controls[threads] = Worker(threads, target=control_main)
            self.control_readings[threads] = []

    def _close_controls(self, *, now: bool = False) -> None:
        for w in self.controls.values():
            w.close(now=now)
        self.controls = {}

    def _control_ready(self) -> None:
        for threads, w in list(self.controls.items()):
            try:
                w.call(Command.LOAD)
            except (WorkerDied, WorkerError) as exc:
                self._drop_control(threads, exc)

    def _drop_control(self, threads: int, exc) -> None:
        self.emit(Event.NOTE, text=f"the control workload ({threads} thread(s)) stopped ({exc}): "
                                   "its rows carry no control, compare judges them without it")
        self.controls.pop(threads).close(now=True)
        self.control_readings.pop(threads, None)

    def _control_blocks(self) -> None:
        import statistics

        for threads, w in list(self.controls.items()):
            time.sleep(SETTLE_S)
            try:
                block = w.call(Command.BLOCK)
            except (WorkerDied, WorkerError) as exc:
                self._drop_control(threads, exc)
                continue
            # the block's mean call, not its median: the time-averaged speed that a long call
            # feels too; a median of short calls picks those that fell between a neighbour's
            # bursts (measured: beside a 50 % duty neighbour resnext50 ran 1.37x slower, the
            # control's median 1.21x, its mean 1.47x; reports/cpu/compare-drift/control-tracking)
            self.control_readings[threads].append(statistics.fmean(block.samples_ms))

    # -- stages ---------------------------------------------------------------------------------
    def _prepare(self, members: list[Member]) -> None:
        """Artifacts and parity references of the group, made and verified in one short-lived
        process; the answers travel to the measuring workers."""
        if not members:
            return
        w = Worker([m.job for m in members], target=prepare_main)
        try:
            answers = w.call(Command.PREPARE)
        except (WorkerDied, WorkerError) as exc:
            answers = [Failed(f"preparing artifacts: {exc}")] * len(members)
        except KeyboardInterrupt:
            w.close(now=True)
            raise
        finally:
            w.close()
        for m, answer in zip(members, answers):
            if isinstance(answer, Failed):
                m.row.failed(answer)
            else:
                m.prepared = answer
                m.row.add_prepared(answer)

    def run(self) -> list[ResultRow]:
        self._spawn_control()
        usable = []
        for m in self.members:
            reason = Runner.skip_reason(m.job.combo)
            if reason:
                m.row.skipped(reason)
            else:
                usable.append(m)
        self._prepare(usable)
        for m in usable:
            if m.prepared is not None:
                self._start(m, first=True)
        live = [m for m in self.members if m.worker is not None]
        if self.runner.timed and live:
            self._control_ready()
            self._rounds(live)
        self._close_controls()
        for m in live:
            if m.worker is None:
                continue  # died in a round
            try:
                m.row.add_finished(m.worker.call(Command.FINISH))
            except (WorkerDied, WorkerError) as exc:
                self._fail(m, exc)
                continue
            self._stop(m)
        return [m.row.row for m in self.members]

    def _rounds(self, live: list[Member]) -> None:
        timing = live[0].job.config.timing
        rounds, processes = timing.rounds, min(timing.processes, timing.rounds)
        respawn_at = span_starts(rounds, processes)
        for r, order in enumerate(round_orders(len(live), rounds)):
            if self.controls:  # one more member, its turn moving through the round
                order = list(order)
                order.insert(r % (len(order) + 1), CONTROL_TURN)
            self.emit(Event.ROUND, round=r, rounds=rounds, size=len(live))
            if r in respawn_at:
                # the next process's turn: a fresh worker per member, loaded (and warmed up)
                # before any block of this round, while the others are idle
                for m in live:
                    if m.worker is not None:
                        self._stop(m)
                        self._start(m, first=False)
            for i in order:
                if i == CONTROL_TURN:
                    self._control_blocks()
                    continue
                m = live[i]
                if m.worker is None:
                    continue  # died in an earlier round
                self._block(m, r)
        for m in live:
            if m.worker is not None:
                m.row.add_timing(m.blocks, m.end_to_end, len(live), processes, m.loads,
                                 self.probe.cpus)
                if m.served:
                    m.row.add_serving(m.served)
                threads = self._control_key(m)
                control = self.control_readings.get(threads)
                m.row.add_control(control if control and len(control) == rounds else None, threads)

    def _block(self, m: Member, r: int) -> None:
        pid = m.worker.pid
        self.emit(Event.BLOCK, combo=m.job.combo, round=r, pid=pid)
        time.sleep(SETTLE_S)
        before = self.probe.read(pid)
        try:
            block = m.worker.call(Command.BLOCK)
        except (WorkerDied, WorkerError) as exc:
            self._fail(m, exc)
            return
        m.loads.append(self.probe.since(before, pid))
        m.blocks.append(block.samples_ms)
        m.end_to_end.append(block.end_to_end_ms)
        if block.served is not None:
            m.served.append(block.served)
