"""The busy-host probe (bench/hostload.py) and the rule that turns its reading into a note and
an ``inconclusive`` verdict (core.verdict.contention / busy_host)."""

from types import SimpleNamespace

import pytest

from resnext_bench.bench.hostload import HostLoadProbe, Load, parse_pid_stat, parse_proc_stat, summarize_loads
from resnext_bench.core.verdict import BUSY_CORES, busy_host, contention

STAT = "cpu  {user} 5 {system} 9000 40 3 2 {steal} 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 1\n"


def _pid_stat(pid, name, utime, stime):
    # fields 14/15 are utime/stime; the name may hold spaces and parentheses
    return f"{pid} ({name}) S 1 1 1 0 -1 4194560 100 0 0 0 {utime} {stime} 0 0 20 0 3 0 1 1 1\n"


def test_proc_parsers():
    assert parse_proc_stat(STAT.format(user=100, system=50, steal=7)) == 100 + 5 + 50 + 3 + 2 + 7
    assert parse_proc_stat("cpu  1 2 3 4 5 6 7\n") == 1 + 2 + 3 + 6 + 7  # old kernels: no steal
    assert parse_pid_stat(_pid_stat(42, "python -c a) (b", 120, 30)) == 150
    with pytest.raises(ValueError):
        parse_proc_stat("intr 1\n")


def test_probe_subtracts_the_worker_and_itself(tmp_path):
    proc = tmp_path / "proc"
    (proc / "42").mkdir(parents=True)
    (proc / "self").mkdir()

    def write(busy_user, worker, me):
        (proc / "stat").write_text(STAT.format(user=busy_user, system=0, steal=0))
        (proc / "42" / "stat").write_text(_pid_stat(42, "worker", worker, 0))
        (proc / "self" / "stat").write_text(_pid_stat(7, "parent", me, 0))

    write(1000, 100, 10)
    probe = HostLoadProbe(proc)
    probe.hz = 100.0
    before = probe.read(42)
    # 300 busy ticks on the machine: 200 the worker's, 20 the parent's -> 80 ticks = 0.8 s foreign
    write(1300, 300, 30)
    load = probe.since(before, 42)
    assert load.foreign_s == pytest.approx(0.8) and load.wall_s >= 0
    assert probe.since(probe.read(43), 43) is None  # a pid that is gone: not measured
    assert HostLoadProbe(tmp_path / "nothing").read(42) is None  # no /proc: not measured


def test_real_probe_reads_this_machine():
    probe = HostLoadProbe()
    if not probe.available:
        pytest.skip("no /proc on this platform")
    import os

    before = probe.read(os.getpid())
    sum(i * i for i in range(200_000))
    load = probe.since(before, os.getpid())
    assert load is not None and load.foreign_s >= 0 and load.wall_s > 0


def test_row_fields_weigh_blocks_by_their_time():
    fields = summarize_loads([Load(0.1, 1.0), Load(0.9, 1.0), Load(2.0, 2.0)], cpus=2)
    assert fields == {"host_load_cores": pytest.approx(0.75), "host_load_round_cores": [0.1, 0.9, 1.0],
                      "host_cpus": 2}
    assert summarize_loads([Load(0.1, 1.0), None], cpus=2) == {}  # partly unmeasured: none


def _row(load, threads=None, effective=None, device="cpu", cpus=2):
    return SimpleNamespace(host_load_cores=load, host_cpus=cpus, device=device, threads=threads,
                           runtime="ort-cpu", runtime_info={"threads_effective": effective})


def test_contention_needs_load_and_a_pool_that_does_not_fit():
    assert contention(_row(None)) is None  # not measured
    assert contention(_row(BUSY_CORES - 0.05)) is None  # quiet enough
    assert contention(_row(1.0, device="cuda")) is None  # GPU rows: the host's CPUs are not timed
    assert contention(_row(1.05, threads=1)) is None  # one thread beside one busy CPU of two fits
    note = contention(_row(0.6))  # ORT's default pool: all CPUs
    assert note and "0.6 of 2 CPUs" in note and "2 thread(s)" in note
    assert contention(_row(0.6, threads=None, effective=1)) is None  # the runtime's count wins
    assert contention(_row(1.0, threads=4, cpus=16)) is None


def test_busy_host_verdicts():
    busy, quiet = _row(0.8), _row(0.05)
    for verdict in ("regression", "improvement", "unchanged", "p99_regression"):
        v, notes = busy_host(verdict, (("base", quiet), ("new", busy)))
        assert v == "inconclusive" and len(notes) == 1 and notes[0].startswith("new: busy host")
    assert busy_host("parity_break", (("new", busy),))[0] == "parity_break"  # not a timing verdict
    assert busy_host("regression", (("base", quiet), ("new", quiet))) == ("regression", [])


def test_measuring_commands_warn_about_busy_rows(capsys):
    from resnext_bench.cli import _exit_for

    ok = SimpleNamespace(is_bad=False)
    _exit_for([SimpleNamespace(**vars(_row(0.05)), is_bad=False), ok])  # quiet: nothing said
    assert capsys.readouterr().err == ""
    _exit_for([SimpleNamespace(**vars(_row(0.05)), is_bad=False), SimpleNamespace(**vars(_row(0.7)), is_bad=False)])
    err = capsys.readouterr().err
    assert err.startswith("warning: 1 row(s) timed on a busy host") and "0.7 of 2 CPUs" in err
