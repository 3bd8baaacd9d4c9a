"""Result rows and run dirs the test modules share: seeded, typed like real ones."""

from __future__ import annotations

import numpy as np

from resnext_bench.core.fileio import append_jsonl, write_json_atomic
from resnext_bench.core.schema import config_key, row_from_json


def typed(rows):
    return [row_from_json(r) for r in rows]

ARCHS = {"resnet50": (1, 64, 25_557_032, 4_089_184_256), "resnext50_32x4d": (32, 4, 25_028_904, 4_230_479_872),
         "resnext50_2x40d": (2, 40, 25_425_832, 4_181_377_024)}


def make_rows(scale=None, seed=0, n=60, parity=True, rounds=5, drift=None):
    """Rows for 3 archs x 2 runtimes x batch 1/8, latency samples from a seeded lognormal, in
    ``rounds`` rounds; ``drift[r]`` multiplies round r (a shared machine's slow drift)."""
    rng = np.random.default_rng(seed)
    rows = []
    for arch, (c, d, params, macs) in ARCHS.items():
        for runtime, speed in (("torch", 1.4), ("ort-cpu", 1.0)):
            for batch in (1, 8):
                base = speed * macs / 1e8 * (batch ** 0.8)
                s = (scale or {}).get((arch, runtime, batch), 1.0)
                blocks = [base * s * (drift[r] if drift else 1.0) * rng.lognormal(0, 0.03, n // rounds)
                          for r in range(rounds)]
                samples = np.concatenate(blocks).tolist()
                row = dict(arch=arch, form="c", runtime=runtime, device="cpu", precision="fp32",
                           schema_version=2, rounds=rounds,
                           round_medians_ms=[float(np.median(b)) for b in blocks], latency_n=len(samples),
                           batch=batch, threads=None, image_size=224, cardinality=c, width=d,
                           params=params, macs=macs, flops=2 * macs, status="ok", error=None,
                           samples_ms=samples, latency_p50_ms=float(np.median(samples)),
                           latency_p99_ms=float(np.percentile(samples, 99)),
                           latency_mean_ms=float(np.mean(samples)),
                           throughput_ips=batch / (float(np.mean(samples)) / 1e3),
                           achieved_gflops=2 * macs * batch / float(np.mean(samples)) / 1e6,
                           parity_max_abs_err=1e-4, parity_max_rel_err=1e-5,
                           parity_top1_agreement=1.0, parity_passed=parity,
                           onnx_path=None if runtime == "torch" else f"/a/{arch}.onnx",
                           runtime_info={"providers": ["CPUExecutionProvider"]} if runtime != "torch" else {})
                row["config_key"] = config_key(row)
                rows.append(row)
    rows.append(dict(arch="resnet50", form="c", runtime="tensorrt", device="cuda", precision="fp32",
                     batch=1, threads=None, image_size=224, status="skipped",
                     error="runtime unavailable: tensorrt is not installed",
                     config_key="resnet50|c|tensorrt|cuda|fp32|1||224"))
    return rows


def write_run(path, rows):
    path.mkdir(parents=True, exist_ok=True)
    for r in rows:
        append_jsonl(path / "results.jsonl", r)
    write_json_atomic(path / "env.json", {"cpu": "Test CPU", "cpu_flags": ["avx2"], "cpu_count": 2, "python": "3.11",
                                          "packages": {"torch": "2.13.0"}, "git_commit": "abc123"})
    return path


def deploy_row(**kw):
    """A typed row (the first of :func:`make_rows`) with ``kw`` changed."""
    base = dict(make_rows()[0])
    base.update(kw)
    base.pop("config_key", None)
    return row_from_json(base)
