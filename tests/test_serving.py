"""Serving under concurrent requests (issue 48): the load generator's loops on slots whose
service time is a sleep (so the host's own load does not decide them), the rows a real
ONNX Runtime and OpenVINO make under load, pinning, and what is refused."""

from __future__ import annotations

import json
from pathlib import Path
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


# ------------------------------------------------------------------ tune under load (no measuring)
def _load_row(combo, throughput, p99, unserved=0, rounds=3):
    from resnext_bench.core.schema import ResultRow

    return ResultRow(**combo.__dict__, status="ok", parity_passed=True, load_mode="closed",
                     throughput_ips=throughput, latency_p99_ms=p99, latency_p50_ms=p99 / 2,
                     load_round_throughput_ips=[throughput] * rounds, load_unserved=unserved,
                     round_medians_ms=[p99 / 2] * rounds, rounds=rounds)


def test_the_knee_is_the_fewest_clients_near_the_best_throughput_within_the_limit():
    from resnext_bench.core.schema import Combo
    from resnext_bench.tune.knee import find_knee, load_levels

    assert load_levels(2) == [1, 2, 4] and load_levels(4) == [1, 2, 4, 8]
    curve = {1: (100.0, 12.0), 2: (185.0, 14.0), 4: (200.0, 30.0)}  # img/s, p99 ms by clients
    seen = []

    def measure(combos, timing):
        seen.append((len(combos), timing["stage"]))
        return [_load_row(c, *curve[c.settings["concurrency"]]) for c in combos]

    default = Combo("resnet18", "c", "ort-cpu", "cpu", "fp32", 1, None, 32)
    knee = find_knee(measure, default, [1, 2, 4], None)
    assert knee["concurrency"] == 2 and seen == [(3, "knee")]  # 185 >= 0.9 x 200, one stage
    assert [c["concurrency"] for c in knee["curve"]] == [1, 2, 4]
    assert find_knee(measure, default, [1, 2, 4], 13.0)["concurrency"] == 1  # p99 limit
    assert "over 5 ms at every load" in find_knee(measure, default, [1, 2, 4], 5.0)["chosen"]


def test_under_load_throughput_is_what_was_served_and_the_limit_is_the_p99():
    from resnext_bench.core.schema import Combo
    from resnext_bench.tune.search import metric, out_reason

    c = Combo("resnet18", "c", "ort-cpu", "cpu", "fp32", 1, None, 32, {"concurrency": 4})
    r = _load_row(c, throughput=400.0, p99=30.0)
    assert metric(r, "throughput") == 2.5  # ms per image served, not a request's p50 / batch
    assert out_reason(r, max_latency_ms=50) is None
    assert "p99 30.00 ms under 4 client(s), over the 20 ms limit" in out_reason(r, max_latency_ms=20)
    assert "unserved" in out_reason(_load_row(c, 100.0, 5.0, unserved=7))
    # a p99 over the limit only by its few largest requests straddles it: in, more rounds decide
    straddling = _load_row(c, throughput=400.0, p99=30.0)
    straddling.samples_ms = [10.0] * 145 + [21.0, 22.0, 24.0, 28.0, 30.0]
    assert out_reason(straddling, max_latency_ms=25) is None
    straddling.samples_ms = [10.0] * 140 + [26.0] * 10
    assert "its 95% interval [26.00, 26.00] ms from 150 requests" in out_reason(straddling, max_latency_ms=25)


def test_candidates_under_load_serve_single_images_on_runtimes_that_serve():
    from resnext_bench.tune.candidates import candidates

    class Any:
        precisions = ("fp32",)

        @classmethod
        def precision_problem(cls, precision):
            return None

    avail = {"ort-cpu": (True, ""), "openvino": (True, ""), "torch-compile": (True, "")}
    cs = candidates("resnet18", objective="throughput", image_size=32, cuda=False, cpus=2,
                    available=lambda n: avail.get(n, (False, "not here")),
                    runtime_class=lambda n: Any, flags=["avx2"], precisions=["fp32"], concurrency=3)
    assert cs.candidates[0].baseline and cs.candidates[0].combo.settings == {"concurrency": 3}
    assert all(c.combo.batch == 1 and c.combo.settings["concurrency"] == 3 for c in cs.candidates)
    assert ("torch-compile", "does not serve concurrent requests in this tool (no serving slots)") in cs.excluded
    hints = {c.combo.settings.get("ov_hint") for c in cs.candidates if c.combo.runtime == "openvino"}
    assert hints == {"throughput", None}  # both of benchmark_app's hints


@pytest.mark.parametrize("args, says", [
    (("--concurrency", "0"), "must be 'auto' or an integer from 1 to 256"),
    (("--concurrency", "2", "--batch", "4"), "a request is one image under load"),
])
def test_tune_load_options_are_checked_up_front(cli, tmp_path, args, says):
    res = cli("tune", "--arch", "resnet18", *args, "--out", tmp_path / "t")
    assert res.exit_code == 2 and says in res.output, res.output


# ------------------------------------------------------------------ the bundle's server forms
def _served_row(artifacts, runtime="ort-cpu", **kw):
    from resnext_bench.core.schema import ResultRow
    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx

    art = export_onnx(ExportConfig("resnext29_2x4d"), artifacts)
    return ResultRow("resnext29_2x4d", "c", runtime, "cpu", "fp32", kw.pop("batch", 1), 2, 32,
                     {"concurrency": 2}, status="ok", onnx_path=str(art.path),
                     load_slots=2, **kw), Path(art.path)


def test_a_triton_repository_that_triton_s_schema_parses(tmp_path, artifacts):
    pytest.importorskip("tritonclient.grpc")
    from resnext_bench.tune.server_formats import triton_config, validate_triton_config, write_server_formats

    r, onnx_path = _served_row(artifacts, batch=4)
    cfg = {"loader": "onnxruntime", "onnxruntime": {"intra_op_num_threads": 2}}
    text = triton_config(r, cfg, onnx_path)
    assert 'backend: "onnxruntime"' in text and "max_batch_size: 4" in text
    assert "dims: [ 3, 32, 32 ]" in text and "count: 2 kind: KIND_CPU" in text
    assert "preferred_batch_size: [ 4 ]" in text and '"intra_op_thread_count"' in text
    assert "parsed as Triton's ModelConfig" in validate_triton_config(text)
    # ONNX Runtime with OpenVINO's provider, at a graph level: one optimization block, parsed
    r.settings = {"concurrency": 2, "graph_opt_level": "basic"}
    ov_ep = triton_config(r, {"loader": "onnxruntime", "onnxruntime": {
        "intra_op_num_threads": 2, "providers": ["OpenVINOExecutionProvider", "CPUExecutionProvider"]}},
        onnx_path)
    assert 'cpu_execution_accelerator: [ { name: "openvino" } ]' in ov_ep and "level: -1" in ov_ep
    assert ov_ep.count("optimization {") == 1 and validate_triton_config(ov_ep)
    r.settings = {"concurrency": 2}
    with pytest.raises(ValueError, match="does not parse"):
        validate_triton_config(text.replace("instance_group", "instance_groups"))
    work = tmp_path / "b"
    work.mkdir()
    import shutil

    shutil.copyfile(onnx_path, work / onnx_path.name)
    out = write_server_formats(work, r, cfg, onnx_path.name)
    model = work / "triton" / out["triton"]["model"]
    assert (model / "config.pbtxt").read_text() == text and (model / "1" / "model.onnx").is_file()


def test_an_openvino_pick_ships_its_ir_and_a_triton_folder_for_openvino(tmp_path, artifacts):
    ov = pytest.importorskip("openvino")
    from resnext_bench.tune.server_formats import write_server_formats

    r, onnx_path = _served_row(artifacts, runtime="openvino")
    cfg = {"loader": "openvino", "openvino": {"config": {"PERFORMANCE_HINT": "THROUGHPUT"}}}
    work = tmp_path / "b"
    work.mkdir()
    import shutil

    shutil.copyfile(onnx_path, work / onnx_path.name)
    out = write_server_formats(work, r, cfg, onnx_path.name)
    assert (work / "openvino" / "model.xml").is_file() and (work / "openvino" / "model.bin").is_file()
    assert json.loads((work / "openvino" / "compile_config.json").read_text()) == {"PERFORMANCE_HINT": "THROUGHPUT"}
    import numpy as np

    compiled = ov.Core().compile_model(str(work / "openvino" / "model.xml"), "CPU")
    logits = compiled(np.zeros((1, 3, 32, 32), np.float32))[compiled.output(0)]
    assert logits.shape == (1, 10)  # the IR runs
    text = (work / "triton" / out["triton"]["model"] / "config.pbtxt").read_text()
    assert 'backend: "openvino"' in text and '"PERFORMANCE_HINT"' in text
    assert (work / "triton" / out["triton"]["model"] / "1" / "model.xml").is_file()
