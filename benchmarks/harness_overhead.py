"""Benchmark (not a test): is the harness free, and how do ort-cpu and torch compare?

On one ONNX file and one ORT session, alternates rounds (ABBA order) of
  * a block of the harness (``resnext_bench.bench.harness.Harness.block``), and
  * a bare ``InferenceSession.run`` loop of the same length with ``perf_counter_ns`` (what a
    user would write),
then, in a phase of its own, times the ``torch`` runtime through the harness, and prints the
ratios of medians. Compare ratios, not absolute times.

    python benchmarks/harness_overhead.py [--arch resnext50_32x4d] [--batch 1] [--iters 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnext50_32x4d")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--json", default=None, help="also write the raw samples here")
    args = ap.parse_args()

    from resnext_bench.bench.env import capture_env
    from resnext_bench.bench.harness import measure
    from resnext_bench.bench.runner import SETTLE_S
    from resnext_bench.config import TimingConfig
    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx
    from resnext_bench.models import build_model
    from resnext_bench.models.inputs import synthetic_images
    from resnext_bench.runtimes.base import RuntimeOptions
    from resnext_bench.runtimes.ort_cpu import OrtCpuRuntime
    from resnext_bench.runtimes.torch_eager import TorchRuntime

    exp = export_onnx(ExportConfig(args.arch), args.artifacts)
    size = exp.summary["image_size"]
    x = synthetic_images(args.batch, size, 1234)
    cfg = TimingConfig(warmup=args.warmup, iters=args.iters)

    ort_rt = OrtCpuRuntime(RuntimeOptions(batch=args.batch))
    ort_rt.load(exp.path)
    torch_rt = TorchRuntime(RuntimeOptions(batch=args.batch))
    torch_rt.load(build_model(args.arch, cache_dir=args.artifacts))

    def bare_loop():
        sess, feeds, out = ort_rt.session, {ort_rt.input_name: x}, ort_rt.output_name
        for _ in range(args.warmup):
            sess.run([out], feeds)
        samples = []
        for _ in range(args.iters):
            t0 = time.perf_counter_ns()
            sess.run([out], feeds)
            samples.append((time.perf_counter_ns() - t0) / 1e6)
        return samples

    # Phase 1: the harness's block against a bare loop of the same length on the same session,
    # ABBA order (each side first in half the rounds, each after the other as often), a settle
    # pause before each. Nothing else runs between them: torch's OpenMP threads spin for up to
    # 200 ms after a run, and a rotation that puts one side after torch more often than the other
    # (the earlier version of this script: 2 of 3 rounds for the harness) measures that spin.
    from resnext_bench.bench.harness import Harness

    h_obj = Harness(ort_rt, x, TimingConfig(warmup=args.warmup, iters=args.iters * args.rounds,
                                            rounds=args.rounds))
    h_obj.warm_up()
    harness, bare, torch_s, per_round = [], [], [], []
    for r in range(args.rounds):
        order = ("h", "b") if r % 4 in (0, 3) else ("b", "h")
        got = {}
        for side in order:
            time.sleep(SETTLE_S)
            got[side] = h_obj.block()[0] if side == "h" else bare_loop()
        harness += got["h"]
        bare += got["b"]
        per_round.append(statistics.median(got["h"]) / statistics.median(got["b"]))
        print(f"round {r + 1}/{args.rounds} ({'-'.join(order)}): harness p50 {statistics.median(got['h']):.2f} ms, "
              f"bare p50 {statistics.median(got['b']):.2f} ms, ratio {per_round[-1]:.3f}", flush=True)
    # Phase 2: torch eager through the harness (its own phase: its threads spin afterwards)
    for _ in range(max(1, args.rounds // 2)):
        time.sleep(SETTLE_S)
        torch_s.extend(measure(torch_rt, x, cfg).samples_ms)
    h, b, t = (statistics.median(v) for v in (harness, bare, torch_s))
    env = capture_env()
    print(f"\n{args.arch} batch {args.batch}, {len(harness)} samples each, on {env['cpu']} "
          f"({env['affinity_cpus']} cpus), torch {env['packages']['torch']}, "
          f"onnxruntime {list(env['onnxruntime_packages'].values())}")
    print(f"ort-cpu harness p50 {h:.2f} ms vs bare InferenceSession.run loop p50 {b:.2f} ms: "
          f"harness/bare = {h / b:.3f}x (median of per-round ratios {statistics.median(per_round):.3f}, "
          f"rounds {min(per_round):.3f}-{max(per_round):.3f})")
    faster = t / h
    print(f"ort-cpu p50 {h:.2f} ms vs torch eager p50 {t:.2f} ms: ort-cpu is "
          + (f"{faster:.2f}x faster" if faster >= 1 else f"{1 / faster:.2f}x slower") + " than torch")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"harness_ms": harness, "bare_ms": bare, "torch_ms": torch_s, "env": env,
                       "per_round_ratio": per_round, "harness_over_bare": h / b}, f)


if __name__ == "__main__":
    main()
