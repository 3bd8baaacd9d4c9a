"""Serving under concurrent requests (issue 48): the load generator's loops on slots whose
service time is a sleep (so the host's own load does not decide them), the rows a real
ONNX Runtime and OpenVINO make under load, pinning, and what is refused."""

from __future__ import annotations

import json
import os
import random
import statistics
import time

import pytest

from resnext_bench.bench.loadgen import arrivals, closed_loop, open_loop


def _slot(ms: float):
    def serve(_x):
        time.sleep(ms / 1e3)
    return serve


def test_closed_loop_queues_for_too_few_slots_and_scales_with_enough():
    """4 clients on 1 slot of 10 ms: each request waits for the three before it (~40 ms) and
    the server completes ~100 a second; on 4 slots ~10 ms and ~4x the throughput."""
    one, served1 = closed_loop([_slot(10)], None, clients=4, calls=20, seconds=0.4)
    four, served4 = closed_loop([_slot(10)] * 4, None, clients=4, calls=20, seconds=0.4)
    assert served1.completed == len(one) >= 20 and served1.unserved == 0 and served1.mode == "closed"
    tput1, tput4 = served1.completed / served1.wall_s, served4.completed / served4.wall_s
    assert statistics.median(one) > 2.5 * statistics.median(four)  # the queue is in the latency
    assert tput4 > 2.5 * tput1
    assert statistics.median(four) >= 10.0  # a request cannot be faster than its service


def test_open_loop_serves_a_light_rate_and_counts_what_a_heavy_one_leaves():
    rng = random.Random(0)
    light, s_light = open_loop([_slot(5)], None, rate=40, seconds=1.0, rng=rng, drain_s=1.0)
    assert s_light.unserved == 0 and s_light.completed == s_light.offered == len(light)
    assert abs(s_light.offered - 40) < 20  # Poisson around the rate
    # 400 requests a second on one 10 ms slot (100 a second at most): the queue grows, the
    # drain limit leaves some unserved, and the served rate is the slot's, not the offered one
    heavy, s_heavy = open_loop([_slot(10)], None, rate=400, seconds=0.5, rng=rng, drain_s=0.3)
    assert s_heavy.unserved > 0 and s_heavy.completed + s_heavy.unserved == s_heavy.offered
    assert s_heavy.completed / s_heavy.wall_s < 150
    # latency counts from the scheduled arrival: the queue shows in it
    assert max(heavy) > 100


def test_arrivals_are_poisson_at_the_rate_and_seeded():
    a = arrivals(200.0, 20.0, random.Random(7))
    gaps = [y - x for x, y in zip(a, a[1:])]
    assert abs(len(a) / 20.0 - 200) < 15
    assert abs(statistics.fmean(gaps) - 1 / 200) < 0.0005
    assert abs(statistics.stdev(gaps) / statistics.fmean(gaps) - 1) < 0.1  # exponential: cv 1
    assert a == arrivals(200.0, 20.0, random.Random(7))


def test_a_failing_slot_fails_the_block_instead_of_hanging():
    def broken(_x):
        raise RuntimeError("engine gone")

    with pytest.raises(RuntimeError, match="engine gone"):
        closed_loop([broken], None, clients=2, calls=5, seconds=0.2)
    with pytest.raises(RuntimeError, match="engine gone"):
        open_loop([broken], None, rate=100, seconds=0.3, rng=random.Random(0), drain_s=0.2)


def _rows(out):
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_bench_under_load_makes_a_row_per_load_with_served_throughput(cli, tmp_path, artifacts):
    out = tmp_path / "run"
    res = cli("bench", "--arch", "resnext29_2x4d", "--runtime", "ort-cpu", "--concurrency", "1,2",
              "--rounds", 2, "--iters", 10, "--threads", 1, "--artifacts", artifacts,
              "--out", out, "-q")
    assert res.exit_code == 0, res.output
    rows = {r["settings"]["concurrency"]: r for r in _rows(out)}
    assert set(rows) == {1, 2}
    for n, r in rows.items():
        assert r["status"] == "ok" and r["load_mode"] == "closed" and r["load_slots"] == n
        assert r["load_completed"] >= 10 and r["load_unserved"] == 0
        assert r["config_key"].endswith(f"concurrency={n}")
        # throughput is what was served over the wall time, not the inverse of a request
        assert abs(r["throughput_ips"] - r["load_achieved_rps"]) < 1e-6
        assert len(r["load_round_throughput_ips"]) == 2 and r["cpu_used_cores"] > 0
        assert r["parity_passed"] is True and r["requests_per_call"] is None
    md = cli("report", out, "--format", "md")
    assert md.exit_code == 0 and "## Serving under concurrent requests" in md.output
    assert "2 clients" in md.output


def test_an_open_loop_row_and_pinned_workers(cli, tmp_path, artifacts):
    cpu = sorted(os.sched_getaffinity(0))[0]
    out = tmp_path / "run"
    res = cli("bench", "--arch", "resnext29_2x4d", "--runtime", "ort-cpu", "--request-rate", 20,
              "--rounds", 2, "--iters", 10, "--threads", 1, "--cpus", cpu,
              "--artifacts", artifacts, "--out", out, "-q")
    assert res.exit_code == 0, res.output
    (r,) = _rows(out)
    assert r["load_mode"] == "open" and r["settings"] == {"request_rate": 20.0}
    assert r["load_slots"] == 1 and r["load_offered"] >= 5 and r["cpus_pinned"] == [cpu]
    env = json.loads((out / "env.json").read_text())
    assert env["cpus_pinned"] == [cpu]


@pytest.mark.parametrize("args, says", [
    (("--runtime", "torch-compile", "--concurrency", "2"), "does not apply to torch-compile"),
    (("--runtime", "ort-cpu", "--concurrency", "2", "--request-rate", "5"), "one load at a time"),
    (("--runtime", "ort-cpu", "--serve-slots", "2"), "give --concurrency or --request-rate"),
    (("--runtime", "openvino", "--concurrency", "2", "--ov-requests", "2"), "--serve-slots"),
    (("--runtime", "ort-cpu", "--cpus", "4096"), "not among"),
    (("--runtime", "ort-cpu", "--cpus", "a-b"), "CPU list"),
])
def test_load_options_that_cannot_mean_anything_are_refused(cli, tmp_path, args, says):
    res = cli("bench", "--arch", "resnext29_2x4d", *args, "--out", tmp_path / "r")
    assert res.exit_code == 2 and says in res.output, res.output
    assert "Traceback" not in res.output and not (tmp_path / "r" / "results.jsonl").exists()


def test_openvino_serves_through_infer_requests(cli, tmp_path, artifacts):
    pytest.importorskip("openvino")
    out = tmp_path / "run"
    res = cli("bench", "--arch", "resnext29_2x4d", "--runtime", "openvino", "--concurrency", 2,
              "--ov-hint", "throughput", "--rounds", 2, "--iters", 10, "--artifacts", artifacts,
              "--out", out, "-q")
    assert res.exit_code == 0, res.output
    (r,) = _rows(out)
    assert r["status"] == "ok" and r["load_slots"] == 2 and r["load_completed"] >= 10
    assert r["parity_passed"] is True
