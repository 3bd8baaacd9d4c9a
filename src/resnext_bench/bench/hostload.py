"""How much CPU other processes took while a worker measured: the busy-host probe.

Interleaved rounds cancel the *drift* of a shared machine, but not a bias that sticks to one
worker. Measured here (2 cores, resnet18 64 px, ort-cpu with its default two intra-op threads,
one busy-loop process beside it): ``ab`` of one file against itself gave 23 ms for one side and
13-15 ms for the other in every round -- "1.6x faster" for an identical file -- because a
thread pool larger than the free cores runs at the pace of whichever thread the scheduler parks
behind the other process, and that placement lasts as long as the worker. With one thread per
side the same test was even (1.01x, 1.04x).

So each measured block is bracketed by two readings of the kernel's counters: the machine's busy
CPU time (``/proc/stat``: user, nice, system, irq, softirq and steal -- steal being the time a
VM's CPUs waited for the host) minus the CPU time of the worker and of this process
(``/proc/<pid>/stat``, all threads). What remains, over the block's wall time, is how many
cores *other* processes held. Rows keep it (``host_load_cores``, per round in
``host_load_round_cores``, beside ``host_cpus``); :func:`~resnext_bench.core.verdict.contention`
turns it into a note and an ``inconclusive`` verdict where it can bias a comparison.

Linux only: elsewhere the probe reads nothing and the rows say ``None`` (not measured).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _ticks_per_second() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0


def parse_proc_stat(text: str) -> int:
    """Busy ticks of all CPUs from ``/proc/stat``'s ``cpu`` line: every field but idle and
    iowait (guest time is already inside user)."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            v = [int(x) for x in line.split()[1:]]
            user, nice, system, _idle, _iowait, irq, softirq = (v + [0] * 7)[:7]
            steal = v[7] if len(v) > 7 else 0
            return user + nice + system + irq + softirq + steal
    raise ValueError("no aggregate cpu line")


def parse_pid_stat(text: str) -> int:
    """utime + stime ticks of a process (all its threads) from ``/proc/<pid>/stat``; the name
    field may hold spaces and parentheses, so fields are counted after the last ')'."""
    rest = text[text.rindex(")") + 2:].split()
    return int(rest[11]) + int(rest[12])  # fields 14 and 15 of the whole line


@dataclass(frozen=True)
class Reading:
    wall: float
    busy_ticks: int
    own_ticks: int  # the worker's and this process's


@dataclass(frozen=True)
class Load:
    """Other processes' CPU over one block: ``foreign_s`` core-seconds in ``wall_s`` seconds."""
    foreign_s: float
    wall_s: float

    @property
    def cores(self) -> float:
        return self.foreign_s / self.wall_s if self.wall_s > 0 else 0.0


class HostLoadProbe:
    """``before = probe.read(pid)``; run the block; ``probe.since(before, pid)`` -> :class:`Load`
    (``None`` where ``/proc`` cannot be read)."""

    def __init__(self, proc: Path = PROC):
        self.proc = proc
        self.hz = _ticks_per_second()
        self.cpus = usable_cpus()
        self.available = (proc / "stat").is_file()

    def read(self, pid: int | None) -> Reading | None:
        if not self.available or pid is None:
            return None
        try:
            own = parse_pid_stat((self.proc / str(pid) / "stat").read_text())
            own += parse_pid_stat((self.proc / "self" / "stat").read_text())
            busy = parse_proc_stat((self.proc / "stat").read_text())
        except (OSError, ValueError, IndexError):
            return None
        return Reading(time.monotonic(), busy, own)

    def since(self, before: Reading | None, pid: int | None) -> Load | None:
        after = self.read(pid)
        if before is None or after is None:
            return None
        foreign = (after.busy_ticks - before.busy_ticks) - (after.own_ticks - before.own_ticks)
        return Load(max(foreign, 0) / self.hz, after.wall - before.wall)


def summarize_loads(loads: list[Load | None], cpus: int) -> dict:
    """Row fields from a row's per-block loads: the mean over all its blocks (core-seconds over
    seconds: long blocks weigh more, and one tick of 10 ms matters less), and each block's."""
    got = [x for x in loads if x is not None]
    if not got or len(got) != len(loads):
        return {}
    wall = sum(x.wall_s for x in got)
    return {"host_load_cores": round(sum(x.foreign_s for x in got) / wall, 3) if wall > 0 else None,
            "host_load_round_cores": [round(x.cores, 3) for x in got],
            "host_cpus": cpus}


def load_now(seconds: float = 1.0, probe: HostLoadProbe | None = None) -> float | None:
    """Cores other processes hold right now, read over ``seconds`` while this process sleeps
    (``tune`` sizes its first screen by it); None where ``/proc`` cannot be read."""
    probe = probe or HostLoadProbe()
    before = probe.read(os.getpid())
    time.sleep(seconds)
    load = probe.since(before, os.getpid())
    return None if load is None else round(load.cores, 2)
