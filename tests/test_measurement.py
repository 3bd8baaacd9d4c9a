"""Interleaved rounds, worker processes, the noise-aware verdicts and the A/B command."""

import json
import os
import signal

import numpy as np
import pytest

from conftest import run_config
from resnext_bench.bench.plan import combos
from resnext_bench.bench.runner import Runner, group_combos, round_orders
from resnext_bench.core.fileio import read_jsonl
from resnext_bench.core.verdict import paired_verdict, unpaired_verdict


# ---------------------------------------------------------------------------- scheduling
def test_round_order_rotates():
    assert round_orders(3, 4) == [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 1, 2]]
    assert round_orders(1, 2) == [[0], [0]]
    # over n rounds every member runs in every position once
    for pos in range(4):
        assert sorted(order[pos] for order in round_orders(4, 4)) == [0, 1, 2, 3]


def test_groups_are_arch_and_size_capped_by_group_size():
    config = run_config(archs="resnet18,wrn10_1", runtimes="torch,ort-cpu", batches="1,2,4",
                        image_sizes=64, group_size=4, device="cpu")
    groups = group_combos(combos(config, strict=False), 4)
    assert [len(g) for g in groups] == [4, 2, 4, 2]
    assert all(len({(c.arch, c.image_size) for c in g}) == 1 for g in groups)


def test_groups_keep_what_a_report_compares_together():
    """A forms study (3 forms x 2 runtimes x 2 batches, groups of 8) is cut between batches, not
    through them: each batch's forms and runtimes are measured in the same rounds."""
    config = run_config(archs="resnext29_2x4d", forms="a,b,c", runtimes="torch,ort-cpu",
                        batches="1,8", device="cpu")
    groups = group_combos(combos(config, strict=False), 8)
    assert [len(g) for g in groups] == [6, 6]
    for g in groups:
        assert len({c.batch for c in g}) == 1 and {c.form for c in g} == {"a", "b", "c"}
    # a unit larger than the group is cut by itself
    wide = run_config(archs="resnext29_2x4d", forms="a,b,c", runtimes="torch,ort-cpu",
                      batches="1", device="cpu")
    assert [len(g) for g in group_combos(combos(wide, strict=False), 4)] == [4, 2]


# ----------------------------------------------------------------------------- verdicts
def _rounds(level, drift, rng, n=20):
    return [list(level * d * rng.lognormal(0, 0.02, n)) for d in drift]


def test_unpaired_verdict_cases():
    rng = np.random.default_rng(0)
    flat = [1.0] * 5
    drifting = [1.0, 1.15, 1.3, 1.1, 1.0]

    def verdict(b_rounds, n_rounds):
        b = [v for r in b_rounds for v in r]
        n = [v for r in n_rounds for v in r]
        return unpaired_verdict(b, n, [np.median(r) for r in b_rounds],
                                [np.median(r) for r in n_rounds], 0.05)

    # drift in both runs, a 10% offset between them: within the noise
    assert verdict(_rounds(10, drifting, rng), _rounds(11, drifting, rng)).verdict == "unchanged"
    # a real 1.4x slowdown beyond that noise
    assert verdict(_rounds(10, drifting, rng), _rounds(14, drifting, rng)).verdict == "regression"
    # quiet runs: 10% is real
    v = verdict(_rounds(10, flat, rng), _rounds(11, flat, rng))
    assert v.verdict == "regression" and v.ci_low > 1 and v.noise < 0.05
    assert verdict(_rounds(10, flat, rng), _rounds(7, flat, rng)).verdict == "improvement"
    # too few rounds: no noise estimate, no verdict
    v = verdict(_rounds(10, [1.0, 1.0], rng), _rounds(14, [1.0, 1.0], rng))
    assert v.verdict == "inconclusive" and "re-measure with --rounds 3" in v.notes[0]


def test_paired_verdict_cases():
    rng = np.random.default_rng(1)
    drift = np.array([1.0, 1.3, 1.6, 1.2, 1.0, 1.4, 1.1, 1.5])
    base = 10 * drift * rng.lognormal(0, 0.01, drift.size)
    # the same file under heavy drift: paired ratios stay near 1
    same = 10 * drift * rng.lognormal(0, 0.01, drift.size)
    assert paired_verdict(base, same, 0.05).verdict == "unchanged"
    slower = 13 * drift * rng.lognormal(0, 0.01, drift.size)
    v = paired_verdict(base, slower, 0.05)
    assert v.verdict == "regression" and 1.25 < v.ratio < 1.35 and v.ci_low > 1
    assert paired_verdict(base[:2], slower[:2], 0.05).verdict == "inconclusive"


# --------------------------------------------------------------------- workers, rounds
def test_rows_keep_rounds_and_every_sample(tmp_path, artifacts):
    config = run_config(archs="wrn10_1", runtimes="ort-cpu,torch", warmup=1, iters=8, rounds=4,
                        parity_images=4, artifacts=str(artifacts))
    order = []

    def on_event(kind, **e):
        if kind == "block":
            order.append((e["round"], e["combo"].runtime, e["pid"]))

    rows = Runner(config, tmp_path).run(combos(config, strict=True), on_event=on_event)
    assert [(r, rt) for r, rt, _ in order] == [(0, "ort-cpu"), (0, "torch"), (1, "torch"),
                                               (1, "ort-cpu"), (2, "ort-cpu"), (2, "torch"),
                                               (3, "torch"), (3, "ort-cpu")]
    pids = {rt: {p for _, r, p in order if r == rt} for rt in ("ort-cpu", "torch")}
    assert all(len(p) == 1 for p in pids.values()) and pids["ort-cpu"] != pids["torch"]
    assert os.getpid() not in pids["torch"]  # measured in workers, not here
    for r in rows:
        assert r.ok and r.rounds == 4 and len(r.round_medians_ms) == 4 and r.group_size == 2
        assert len(r.samples_ms) == r.latency_n == 8 and r.round_spread >= 0 and r.latency_cv >= 0
        assert r.parity_passed
        if os.path.exists("/proc/stat"):  # the busy-host probe: one reading per round
            assert r.host_load_cores >= 0 and len(r.host_load_round_cores) == 4 and r.host_cpus >= 1


def test_processes_take_the_rounds_in_turn(tmp_path, artifacts, monkeypatch):
    """--processes 2 over 4 rounds: each configuration is timed by a fresh worker in rounds 0-1
    and another in rounds 2-3; an ONNX Runtime worker never imports torch."""
    from worker_faults import reports_torch_import

    monkeypatch.setenv("RESNEXT_BENCH_TEST_IMPORTS", str(tmp_path))
    config = run_config(archs="wrn10_1", runtimes="ort-cpu,torch", warmup=1, iters=8, rounds=4,
                        processes=2, parity_images=4, artifacts=str(artifacts))
    pids: dict = {}

    def on_event(kind, **e):
        if kind == "block":
            pids.setdefault(e["combo"].runtime, []).append(e["pid"])

    rows = Runner(config, tmp_path / "run", worker_target=reports_torch_import).run(
        combos(config, strict=True), on_event=on_event)
    for runtime, seen in pids.items():
        assert seen[0] == seen[1] != seen[2] == seen[3], (runtime, seen)
    assert set(pids["ort-cpu"]).isdisjoint(pids["torch"])
    for r in rows:
        assert r.ok and r.processes == 2 and r.rounds == 4 and r.latency_n == 8 and r.parity_passed
        assert r.params and r.macs  # counted in the prepare process
    imported = {f.name: f.read_text() for f in tmp_path.iterdir() if f.is_file()}
    assert {k for k in imported if k.startswith("ort-cpu")} == {f"ort-cpu-{p}" for p in pids["ort-cpu"]}
    assert all(v == ("True" if k.startswith("torch") else "False") for k, v in imported.items()), imported


def test_processes_cannot_exceed_rounds(cli, tmp_path):
    res = cli("bench", "--arch", "wrn10_1", "--rounds", 3, "--processes", 4, "--out", tmp_path / "r")
    assert res.exit_code == 2 and "--processes 4: must be <= rounds (3)" in res.stderr, res.output


def test_a_killed_worker_is_a_failed_row_and_the_run_goes_on(tmp_path, artifacts):
    config = run_config(archs="wrn10_1", runtimes="ort-cpu,torch", warmup=0, iters=6, rounds=3,
                        parity_images=4, artifacts=str(artifacts))

    def on_event(kind, **e):
        if kind == "block" and e["round"] == 1 and e["combo"].runtime == "torch":
            os.kill(e["pid"], signal.SIGKILL)

    rows = Runner(config, tmp_path).run(combos(config, strict=True), on_event=on_event)
    by = {r.runtime: r for r in rows}
    assert by["torch"].status == "failed" and "killed by SIGKILL" in by["torch"].error
    assert by["ort-cpu"].ok and by["ort-cpu"].rounds == 3 and by["ort-cpu"].parity_passed
    on_disk, skipped = read_jsonl(tmp_path / "results.jsonl")
    assert not skipped and {d["status"] for d in on_disk} == {"ok", "failed"}


def test_memory_belongs_to_each_configuration(tmp_path, artifacts):
    """A small net measured after a bigger one reports its own peak RSS (its own process)."""
    config = run_config(archs="resnet18,wrn10_1", runtimes="ort-cpu", image_sizes=32, warmup=0,
                        iters=2, rounds=1, parity_images=4, artifacts=str(artifacts))
    alone = run_config(archs="wrn10_1", runtimes="ort-cpu", image_sizes=32, warmup=0, iters=2,
                       rounds=1, parity_images=4, artifacts=str(artifacts))
    first, after = Runner(config, tmp_path / "a").run(combos(config, strict=True))
    (single,) = Runner(alone, tmp_path / "b").run(combos(alone, strict=True))
    assert (first.arch, after.arch) == ("resnet18", "wrn10_1")
    assert first.peak_rss_mb > 1.3 * after.peak_rss_mb  # the bigger net's footprint is its own
    assert after.peak_rss_mb == pytest.approx(single.peak_rss_mb, rel=0.15)


# ------------------------------------------------------------------------------------ ab
@pytest.fixture(scope="module")
def two_files(artifacts, tmp_path_factory):
    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx

    small = export_onnx(ExportConfig("resnet18", image_size=32), artifacts).path
    big = export_onnx(ExportConfig("resnet34", image_size=32), artifacts).path
    return small, big


def test_ab_exit_codes(cli, two_files, artifacts, tmp_path):
    small, big = two_files
    # one thread per side: no intra-op pool whose spinning could favour one worker on a shared
    # 2-core machine (twice a full-suite run here saw the same file 1.6x slower as "new")
    common = ["--iters", 12, "--rounds", 3, "--warmup", 2, "--parity-images", 4, "--threads", 1,
              "--artifacts", artifacts, "-q"]
    same = cli("ab", small, small, *common, "--threshold", 0.5, "--format", "json",
               "--out", tmp_path / "same")
    assert same.exit_code == 0, same.output
    # the JSON document (a busy host adds a stderr note before it: "measuring another job")
    data = json.loads(same.output[same.output.index("{"):])
    assert data["verdict"] in ("unchanged", "improvement") and len(data["base"]["round_medians_ms"]) == 3
    rows, _ = read_jsonl(tmp_path / "same" / "results.jsonl")
    assert [r["ab_side"] for r in rows] == ["base", "new"]
    assert [r["processes"] for r in rows] == [3, 3]  # ab: a fresh worker per side each round
    # resnet34 is ~2x the work of resnet18: flagged
    slow = cli("ab", small, big, *common, "--processes", 1, "--threshold", 0.3, "--format", "md",
               "--out", tmp_path / "slow")
    if "the contention could explain the change" in slow.output:
        # beside the suite's other worker ab may refuse to call a 2x change under contention
        # (the interval reaches the threshold): inconclusive and "slower", never "faster"
        assert slow.exit_code == 0 and "inconclusive: new is" in slow.output and "slower" in slow.output, slow.output
    else:
        assert slow.exit_code == 1, slow.output
        assert "REGRESSION" in slow.output and "slower" in slow.output
    assert "the sides differ in arch: resnet18 vs resnet34" in slow.output
    # one file under two settings
    # (at 32 px ORT's basic level is ~2.9x slower than all: the threshold is not what is tested)
    res = cli("ab", small, small, *common[:2], "--rounds", 3, *common[4:], "--threshold", 5,
              "--processes", 1, "--new-set", "graph_opt_level=basic", "--out", tmp_path / "opts")
    assert res.exit_code == 0, res.output
    rows, _ = read_jsonl(tmp_path / "opts" / "results.jsonl")
    # the last job's two sides (on a busy host ab measures a second job with fitted threads)
    rows = [r for r in rows if r["ab_job"] == rows[-1]["ab_job"]]
    assert [r["runtime_info"]["graph_optimization_level"] for r in rows] == ["all", "basic"]
    assert [r["settings"] for r in rows] == [{}, {"graph_opt_level": "basic"}]
    assert rows[1]["config_key"].endswith("|graph_opt_level=basic")
    assert "runtime settings: graph_opt_level all (default) -> basic" in res.output


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="the busy-host probe reads /proc")
def test_ab_on_a_busy_host_fits_its_threads_and_judges(cli, two_files, artifacts, tmp_path):
    """A busy-loop process beside ORT's default pool (all CPUs): the probe sees it, ab measures
    again with threads fitted to the free CPU and judges those rounds -- "unchanged" for a file
    against itself, not "1.6x faster", and not thrown away as inconclusive."""
    import subprocess
    import sys

    small, _ = two_files
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])]
    try:
        res = cli("ab", small, small, "--iters", 12, "--rounds", 3, "--processes", 1, "--warmup", 2,
                  "--parity-images", 2, "--artifacts", artifacts, "--format", "json", "-q",
                  "--settle-time", 0, "--junit", tmp_path / "ab.xml", "--out", tmp_path / "busy")
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    rows, _ = read_jsonl(tmp_path / "busy" / "results.jsonl")
    first = [r for r in rows if r["ab_job"] == 1]
    assert max(r["host_load_cores"] for r in first) >= 0.3, first
    assert all(len(r["host_load_round_cores"]) == 3 for r in rows)
    fitted = [r for r in rows if r.get("ab_threads_fitted")]
    assert len(fitted) == 2 and {r["threads"] for r in fitted} == {1}, rows
    # 3 rounds here (the 10-run record with 5 rounds is benchmarks/ab_contention.py's): never a
    # regression for a file against itself; inconclusive is allowed when the few rounds disagree
    assert data["verdict"] != "regression", data
    assert any("judged on rounds measured with --threads 1" in n for n in data["notes"])
    assert "<testcase" in (tmp_path / "ab.xml").read_text()


@pytest.mark.parametrize("args,msg", [
    (["/no/such.onnx", "/no/such.onnx"], "no such file"),
    (["{small}", "{small}", "--new-set", "nonsense"], "expected KEY=VALUE"),
    (["{small}", "{small}", "--new-set", "graph_opt_level=fast"], "must be one of"),
    (["{small}", "{small}", "--batch", "1,2"], "one configuration per side"),
])
def test_ab_usage_errors(cli, two_files, tmp_path, args, msg):
    args = [a.format(small=two_files[0]) for a in args]
    res = cli("ab", *args, "--out", tmp_path / "r")
    assert res.exit_code == 2 and msg in res.stderr, res.output


def test_bad_input_found_in_a_worker_is_still_exit_2(cli, tmp_path, artifacts):
    """An unreadable weights file is read in a worker; it is still a usage error (exit 2, one
    line), the run stops, and no worker is left behind."""
    bad = tmp_path / "w.pth"
    bad.write_text("garbage")
    res = cli("bench", "--arch", "wrn10_1", "--runtime", "torch", "--weights", bad, "--iters", 2,
              "--artifacts", artifacts, "--out", tmp_path / "run", "-q")
    assert res.exit_code == 2 and "cannot read" in res.stderr, res.output
    assert len(res.stderr.strip().splitlines()) == 1
    import multiprocessing

    assert not multiprocessing.active_children()


def test_span_starts_cut_rounds_evenly():
    from resnext_bench.bench.runner import span_starts

    assert span_starts(4, 2) == {2} and span_starts(5, 2) == {3} and span_starts(5, 1) == set()
    assert span_starts(6, 6) == {1, 2, 3, 4, 5}  # ab's default: a fresh worker every round
