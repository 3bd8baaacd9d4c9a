"""Fault injection: each way a run dir lost or mixed data, reproduced on a tiny configuration
(resnet18 at 32 px on ort-cpu), and what the tool must do instead -- no row lost, no config
measured twice by two writers, no orphan worker, one-line errors with their exit codes, and
strict-JSON lines."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resnext_bench.core.fileio import read_jsonl
from support.processes import _children, _exe, tiny_sweep

TINY = ["--arch", "resnet18", "--image-size", "32", "--runtime", "ort-cpu", "--iters", "4",
        "--rounds", "1", "--warmup", "1", "--parity-images", "2"]


def _strict_lines(path):
    """Every line parses as strict JSON (bare NaN / Infinity rejected)."""
    def reject(name):
        raise ValueError(name)

    lines = Path(path).read_text().splitlines()
    return [json.loads(line, parse_constant=reject) for line in lines]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def _start_long_bench(out, artifacts, extra=()):
    """A bench whose worker warms up for minutes: the moment to interrupt it."""
    return subprocess.Popen([_exe(), "bench", *TINY, "--artifacts", str(artifacts), "--warmup-time",
                             "300", "-q", "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for_worker(proc, timeout=120) -> list[int]:
    """PIDs of the measuring worker(s) once one is up (the prepare process has come and gone)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        kids = [k for k in _children(proc.pid)
                if "resnext-bench ort-cpu" in _cmdline(k) or _is_worker(k)]
        if kids:
            return kids
        time.sleep(0.3)
    raise AssertionError("no worker appeared")


def _cmdline(pid: int) -> str:
    """A process's command line; "" once it has ended (the prepare process comes and goes
    between the listing of the children and this read)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _is_worker(pid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"multiprocessing" in cmd and b"spawn" in cmd


# 1 ---------------------------------------------------------------------------------------------
def test_a_torn_last_line_is_moved_aside_and_no_row_is_lost(cli, artifacts, tmp_path):
    good = tmp_path / "good"
    assert cli("bench", *TINY, "--artifacts", artifacts, "-q", "--out", good).exit_code == 0
    torn = tmp_path / "torn"
    torn.mkdir()
    data = (good / "results.jsonl").read_bytes()
    (torn / "results.jsonl").write_bytes(data + data[:200])  # a whole row, then a fragment
    res = cli("bench", *TINY, "--artifacts", artifacts, "-q", "--out", torn)
    assert res.exit_code == 0, res.output
    assert "last line was torn" in res.stderr and "results.jsonl.torn-" in res.stderr
    rows = _strict_lines(torn / "results.jsonl")
    assert len(rows) == 2  # the old row and the new one: nothing merged into a fragment
    assert [p.name for p in torn.glob("results.jsonl.torn-*")]
    assert cli("report", torn).exit_code == 0


# 2 ---------------------------------------------------------------------------------------------
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc for child PIDs")
def test_sigterm_stops_the_worker_and_exits_143_with_one_line(artifacts, tmp_path):
    proc = _start_long_bench(tmp_path / "term", artifacts)
    workers = _wait_for_worker(proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    time.sleep(0.5)
    assert not [w for w in workers if _alive(w)], "worker left behind"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc for child PIDs")
def test_ctrl_c_in_prepare_or_measuring_is_one_line_and_no_traceback(artifacts, tmp_path):
    # Ctrl-C reaches the whole process group: parent and workers alike
    proc = subprocess.Popen([_exe(), "export", "--arch", "resnet34", "--image-size", "32",
                             "--out", str(tmp_path / "e"), "--force"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(4)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (130, 0), err  # 0: it finished before the signal
    assert "Traceback" not in err
    proc = _start_long_bench(tmp_path / "int", artifacts)
    workers = _wait_for_worker(proc)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err and "interrupted" in err, err
    assert not [w for w in workers if _alive(w)]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc for child PIDs")
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_bench_within_10_s_beside_three_busy_loops(artifacts, tmp_path, sig, code):
    """Issue 44: at a load of 3 on 2 CPUs, Ctrl-C (to the whole group) or SIGTERM (to the
    process) ends ``bench`` within 10 s, the workers killed, not waited for; a Ctrl-C that
    lands while a worker is being spawned is deferred to after the spawn, not lost."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    try:
        proc = _start_long_bench(tmp_path / "sig", artifacts)
        workers = _wait_for_worker(proc, timeout=300)
        t0 = time.monotonic()
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    assert proc.returncode == code and "Traceback" not in err, err
    assert took < 10, f"{took:.1f} s after the signal"
    time.sleep(0.5)
    assert not [w for w in workers if _alive(w)], "worker left behind"


# 3 ---------------------------------------------------------------------------------------------
def test_a_full_disk_is_one_line_exit_2_and_no_row_counted(cli, artifacts, tmp_path):
    out = tmp_path / "full"
    out.mkdir()
    (out / "results.jsonl").symlink_to("/dev/full")  # every write: ENOSPC
    res = cli("bench", *TINY, "--artifacts", artifacts, "-q", "--out", out)
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: cannot write") and "(ENOSPC)" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_export_on_a_full_disk_is_one_line(cli, tmp_path, monkeypatch):
    import onnx

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.onnx"))

    monkeypatch.setattr(onnx, "save", full)
    res = cli("export", "--arch", "resnet18", "--image-size", 32, "--out", tmp_path / "e", "--force")
    assert res.exit_code == 2 and "(ENOSPC)" in res.stderr, res.output
    assert not list((tmp_path / "e").glob("*.onnx"))


# 4 ---------------------------------------------------------------------------------------------
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc for child PIDs")
def test_a_second_writer_is_refused_and_a_dead_ones_lock_taken_over(cli, artifacts, tmp_path):
    out = tmp_path / "shared"
    first = _start_long_bench(out, artifacts)
    _wait_for_worker(first)
    res = cli("bench", *TINY, "--artifacts", artifacts, "-q", "--out", out)
    assert res.exit_code == 2 and f"PID {first.pid}" in res.stderr, res.output
    os.killpg(first.pid, signal.SIGKILL)  # dies holding the lock: the kernel drops it
    first.communicate(timeout=30)
    res = cli("bench", *TINY, "--artifacts", artifacts, "-q", "--out", out)
    assert res.exit_code == 0, res.output
    assert f"took over the lock left by PID {first.pid}" in res.stderr
    rows, _ = read_jsonl(out / "results.jsonl")
    assert len(rows) == 1  # the killed run wrote nothing half


# 5 ---------------------------------------------------------------------------------------------
def test_resume_with_changed_settings_is_refused_naming_them(cli, artifacts, tmp_path):
    toml = tiny_sweep(tmp_path, artifacts)
    out = tmp_path / "r"
    assert cli("sweep", toml, "--out", out, "-q").exit_code == 0
    toml.write_text(toml.read_text() + "seed = 7\n")
    res = cli("sweep", toml, "--out", out, "--resume", "-q")
    assert res.exit_code == 2 and "seed 0 -> 7" in res.stderr, res.output
    ok = cli("sweep", toml, "--out", out, "--resume", "--allow-changed", "-q")
    assert ok.exit_code == 0 and "env.json keeps both" in ok.stderr, ok.output
    env = json.loads((out / "env.json").read_text())
    assert env["result_settings"]["seed"] == 7 and env["previous"][-1]["result_settings"]["seed"] == 0


# 6 ---------------------------------------------------------------------------------------------
def test_merge_keeps_every_row_and_a_later_failure_still_fails_compare(cli, tmp_path):
    from support.rows import make_rows, write_run

    base = write_run(tmp_path / "base", make_rows(seed=1))
    rows = make_rows(seed=2)
    failed = dict(rows[1], status="failed", error="boom")
    new = write_run(tmp_path / "new", rows + [failed])
    merged = tmp_path / "merged"
    res = cli("merge", new, "--out", merged)
    assert res.exit_code == 0 and "every row kept" in res.output
    assert len(read_jsonl(merged / "results.jsonl")[0]) == len(rows) + 1
    assert cli("compare", base, new).exit_code == 1
    assert cli("compare", base, merged).exit_code == 1  # the later failure is not hidden


# 7 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args,msg", [
    (["--min-time", "nan"], "must be a finite number"),
    (["--warmup-time", "inf"], "must be a finite number"),
    (["--duration", "nan"], "must be a finite number"),
    (["--rtol", "nan"], "must be a finite number"),
])
def test_non_finite_settings_are_refused(cli, args, msg, tmp_path):
    res = cli("bench", *TINY, *args, "--out", tmp_path / "x")
    assert res.exit_code == 2 and msg in res.stderr, res.output


def test_toml_numbers_must_be_numbers(cli, tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('archs = ["resnet18"]\nruntimes = ["ort-cpu"]\niters = "3"\n')
    res = cli("sweep", toml, "--out", tmp_path / "r")
    assert res.exit_code == 2 and "iters = '3': must be an integer, not a string" in res.stderr


def test_non_finite_weights_are_refused_at_load(cli, tmp_path):
    import torch

    from resnext_bench.models import build_model

    state = build_model("resnet18").state_dict()
    state["fc.weight"][0, 0] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    res = cli("export", "--arch", "resnet18", "--image-size", 32, "--weights", tmp_path / "nan.pt",
              "--out", tmp_path / "e")
    assert res.exit_code == 2 and "NaN or infinity (first: fc.weight)" in res.stderr, res.output


def test_non_finite_statistics_are_written_as_null_with_a_note(tmp_path):
    from resnext_bench.core.rundir import append_row
    from resnext_bench.core.schema import ResultRow

    row = ResultRow("resnet18", "c", "ort-cpu", "cpu", "fp32", 1, None, 32,
                    parity_cosine=float("nan"), parity_max_rel_err=float("inf"))
    append_row(tmp_path, row)
    (data,) = _strict_lines(tmp_path / "results.jsonl")
    assert data["parity_cosine"] is None and "non-finite values written as null" in data["note"]


# 8 ---------------------------------------------------------------------------------------------
def test_readers_skip_bad_rows_with_a_warning(cli, tmp_path):
    from support.rows import make_rows, write_run

    rows = make_rows()
    bad = [dict(rows[0], samples_ms=["a", "b"]), dict(rows[1], latency_p50_ms=-5.0),
           dict(rows[2], latency_p50_ms=None, latency_mean_ms=float("nan"))]
    run = write_run(tmp_path / "bad", rows[3:] + bad)
    with open(run / "results.jsonl", "ab") as f:
        f.write(b'{"arch": "\xff"}\n')
    (run / "env.json").write_text("{not json")
    for args in (["report", run, "--format", "html", "--out", tmp_path / "r.html"],
                 ["report", run], ["recommend", run], ["compare", run, run]):
        res = cli(*args)
        assert res.exit_code in (0, 1), (args, res.output)
        assert "Traceback" not in res.output
        assert "not a positive time" in res.stderr and "not UTF-8" in res.stderr, res.stderr
        assert "env.json: not readable as JSON" in res.stderr
    report = cli("report", run).output
    assert "-5.00" not in report


# 9 ---------------------------------------------------------------------------------------------
def test_provenance_covers_external_data(tmp_path):
    import onnx

    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx
    from resnext_bench.exporters.onnxfile import onnx_provenance

    src = export_onnx(ExportConfig("resnet18", image_size=32), tmp_path / "a").path
    model = onnx.load(str(src))
    ext = tmp_path / "ext" / "model.onnx"
    ext.parent.mkdir()
    onnx.save(model, str(ext), save_as_external_data=True, location="weights.bin")
    sha, size = onnx_provenance(ext)
    assert size > ext.stat().st_size  # the data file is counted
    data = ext.parent / "weights.bin"
    data.write_bytes(b"\0" * data.stat().st_size)
    assert onnx_provenance(ext)[0] != sha


# 10 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args,msg", [
    (["info", "--arch", "resnext50_1000000x1000000d"], "too large to build"),
    (["report", "{run}", "--out", "{dir}"], "is a directory"),
])
def test_smaller_cases_are_one_line(cli, tmp_path, args, msg):
    from support.rows import make_rows, write_run

    run = write_run(tmp_path / "run", make_rows())
    (tmp_path / "d").mkdir()
    res = cli(*[a.format(run=run, dir=tmp_path / "d") for a in args])
    assert res.exit_code == 2 and msg in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_a_pickled_checkpoint_is_refused_plainly(cli, tmp_path):
    import argparse

    import torch

    # training scripts often save their argparse Namespace beside the weights
    torch.save({"state_dict": {}, "args": argparse.Namespace(lr=0.1)}, tmp_path / "pickled.pt")
    res = cli("export", "--arch", "resnet18", "--weights", tmp_path / "pickled.pt",
              "--out", tmp_path / "e")
    assert res.exit_code == 2 and "not a plain state dict" in res.stderr, res.output
    assert "Re-running" not in res.stderr


_SPAWN_PROBE = """
import multiprocessing as mp, os, signal, sys, time
import numpy  # the CLI's process has threads beside the main one, as numpy's BLAS makes
from resnext_bench.bench.worker import child_executable, sigint_deferred

def child():
    time.sleep(1.5)

if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    ctx.set_executable(child_executable())
    with sigint_deferred():
        p = ctx.Process(target=child)
        p.start()
    time.sleep(0.05)
    os.kill(p.pid, signal.SIGINT)  # the child is still starting up (importing)
    p.join()
    print("child exit", p.exitcode, flush=True)
    try:
        with sigint_deferred():
            q = ctx.Process(target=child)
            q.start()
            os.kill(os.getpid(), signal.SIGINT)  # a Ctrl-C that lands during a spawn
            time.sleep(0.3)
        print("parent: lost", flush=True)
    except KeyboardInterrupt:
        print("parent: kept", flush=True)
    q.join()
"""


def test_a_ctrl_c_during_a_spawn_reaches_the_parent_and_spares_the_child(tmp_path):
    """The lost Ctrl-C of issue 44: SIGINT was ignored in the parent while a worker spawned,
    so a Ctrl-C landing then was gone. Now the parent keeps it (blocked, raised after the
    spawn) and the child ignores it from its first instruction (no traceback of its own)."""
    script = tmp_path / "probe.py"
    script.write_text(_SPAWN_PROBE)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert "child exit 0" in proc.stdout and "parent: kept" in proc.stdout, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
