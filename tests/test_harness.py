import numpy as np
import pytest

from resnext_bench.bench.harness import measure
from resnext_bench.config import TimingConfig
from resnext_bench.core.parity import DEFAULT_TOLERANCES, compare_logits, tolerance_for
from resnext_bench.core.stats import summarize, throughput_ips
from support.fakes import CountingRuntime


def test_summarize_known_samples():
    s = summarize(range(1, 101))
    assert s["latency_p50_ms"] == pytest.approx(50.5)
    assert s["latency_p90_ms"] == pytest.approx(90.1)
    assert s["latency_p99_ms"] == pytest.approx(99.01)
    assert s["latency_mean_ms"] == pytest.approx(50.5)
    assert s["latency_std_ms"] == pytest.approx(np.std(np.arange(1, 101), ddof=1))
    assert (s["latency_min_ms"], s["latency_max_ms"], s["latency_n"]) == (1, 100, 100)
    assert summarize([], prefix="e2e_")["e2e_n"] == 0


def test_throughput():
    assert throughput_ips(8, 4.0) == pytest.approx(2000.0)
    assert throughput_ips(1, 0) is None


def test_measure_counts_warmup_and_iters():
    rt = CountingRuntime()
    t = measure(rt, np.zeros((2, 3, 4, 4), np.float32), TimingConfig(warmup=3, iters=7, rounds=1))
    assert t.warmup_done == 3 and len(t.samples_ms) == 7
    # 3 warm-up + 1 untimed call opening the block + 7 timed
    assert rt.runs == 11 and rt.syncs == 11 and rt.prepares == 1  # inputs prepared once
    assert all(s >= 0 for s in t.samples_ms) and t.method == "perf_counter_ns"


def test_iters_and_min_time_are_split_over_rounds():
    from resnext_bench.bench.harness import block_budget

    assert block_budget(TimingConfig(iters=50, rounds=5)) == (10, 0.0)
    assert block_budget(TimingConfig(iters=7, rounds=3, min_time=0.3)) == (3, pytest.approx(0.1))
    assert block_budget(TimingConfig(duration=2.0, rounds=4)) == (1, 0.5)  # time-based
    rt = CountingRuntime()
    t = measure(rt, np.zeros((1, 3, 4, 4), np.float32), TimingConfig(warmup=0, iters=7, rounds=3))
    assert len(t.samples_ms) == 9  # ceil(7 / 3) per round: at least iters in all


def test_measure_min_time_extends_iterations():
    rt = CountingRuntime()
    t = measure(rt, np.zeros((1, 3, 4, 4), np.float32),
                TimingConfig(warmup=0, iters=2, min_time=0.05, rounds=1))
    assert len(t.samples_ms) > 2  # kept going until 50 ms of timed calls had passed


def test_parity_metrics():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((32, 100)) * 3
    same = compare_logits(ref, ref.copy(), DEFAULT_TOLERANCES["fp32"])
    assert same.passed and same.max_abs_err == 0 and same.cosine == pytest.approx(1.0)
    assert same.top1_agreement == 1.0 and same.top5_agreement == 1.0
    noisy = compare_logits(ref, ref + rng.standard_normal(ref.shape) * 0.5, DEFAULT_TOLERANCES["fp32"])
    assert not noisy.passed and noisy.top1_agreement < 1.0
    assert noisy.max_rel_err == pytest.approx(noisy.max_abs_err / np.abs(ref).max())
    assert compare_logits(ref, ref + 1e-3, tolerance_for("fp16")).passed
    nan = ref.copy()
    nan[0, 0] = np.nan
    assert not compare_logits(ref, nan, tolerance_for("fp16")).passed
    assert tolerance_for("fp32", rtol=0.5).rtol == 0.5
