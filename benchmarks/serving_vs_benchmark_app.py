"""Benchmark (not a test): tune's serving answer against OpenVINO's benchmark_app, same file,
same load, measured paired.

1. benchmark_app on the fp32 ONNX file, ``-hint throughput`` (a short probe): its number of
   infer requests N and its p99 (``-latency_percentile 99``, ``-infer_precision f32``: the
   file's precision; on AMX its default would be bf16).
2. ``resnext-bench tune --objective throughput --concurrency N --max-latency-ms <that p99>
   --precision fp32``: the most images/s whose p99 under N clients stays within benchmark_app's.
3. Interleaved rounds (the order rotating each round) of: benchmark_app ``-hint throughput``,
   benchmark_app ``-hint latency``, the tune's pick under N clients (``bench --concurrency N``
   with the pick's runtime, threads and settings), and OpenVINO with the THROUGHPUT hint under
   N clients through resnext-bench (our load generator on benchmark_app's own configuration:
   the harness cross-check).
4. ``summary.json``: per round and median, FPS and p99 of each; the goal -- the pick's images/s
   at least benchmark_app's throughput-hint FPS at the same or a lower p99 -- met or not.

    python benchmarks/serving_vs_benchmark_app.py [--arch resnext50_32x4d] [--rounds 3]
        [--seconds 15] [--tune-minutes 8] [--out reports/cpu/serving]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RB = str(BIN / "resnext-bench")
BENCHMARK_APP = str(BIN / "benchmark_app")


def benchmark_app(onnx: str, size: int, hint: str, seconds: float) -> dict:
    cmd = [BENCHMARK_APP, "-m", onnx, "-d", "CPU", "-hint", hint, "-t", str(int(seconds)),
           "-shape", f"[1,3,{size},{size}]", "-latency_percentile", "99", "-infer_precision", "f32"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 4 + 120).stdout
    grab = lambda pat: re.search(pat, out)  # noqa: E731
    nireq = grab(r"(\d+) inference requests")
    p99 = grab(r"99 percentile:\s+([\d.]+) (ms|us)")
    fps = grab(r"Throughput:\s+([\d.]+) FPS")
    count = grab(r"Count:\s+(\d+) iterations")
    if not (p99 and fps):
        raise RuntimeError(f"benchmark_app said nothing usable:\n{out[-2000:]}")
    scale = 1e-3 if p99.group(2) == "us" else 1.0
    return {"who": f"benchmark_app -hint {hint}", "fps": float(fps.group(1)),
            "p99_ms": round(float(p99.group(1)) * scale, 3), "nireq": int(nireq.group(1)) if nireq else None,
            "count": int(count.group(1)) if count else None, "command": " ".join(cmd)}


def ours(arch: str, runtime: str, threads, settings: dict, seconds: float, out: Path, label: str) -> dict:
    flags = []
    for k, v in settings.items():
        flags += [f"--{k.replace('_', '-')}", str(v)]
    cmd = [RB, "bench", "--arch", arch, "--runtime", runtime, "--precision", "fp32",
           "--rounds", "1", "--duration", str(seconds), "--warmup", "5", "--no-parity",
           "--no-layers", "--no-control", "--out", str(out), "-q", *flags]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=seconds * 4 + 300)
    row = json.loads((out / "results.jsonl").read_text().splitlines()[-1])
    return {"who": label, "fps": row["throughput_ips"], "p99_ms": row["latency_p99_ms"],
            "p50_ms": row["latency_p50_ms"], "completed": row["load_completed"],
            "cpu_used_cores": row["cpu_used_cores"], "config_key": row["config_key"],
            "host_load_cores": row["host_load_cores"], "command": " ".join(cmd)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnext50_32x4d")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--tune-minutes", type=float, default=8.0)
    ap.add_argument("--out", default="reports/cpu/serving")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from resnext_bench.bench.env import capture_env
    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx

    exp = export_onnx(ExportConfig(args.arch), "artifacts")
    onnx, size = str(exp.path), exp.summary["image_size"]
    probe = benchmark_app(onnx, size, "throughput", 10)
    n = probe["nireq"] or 1
    limit = probe["p99_ms"]
    print(f"benchmark_app -hint throughput: {n} infer requests, {probe['fps']:.1f} FPS, p99 {limit} ms",
          flush=True)
    t0 = time.time()
    tune = subprocess.run([RB, "tune", "--arch", args.arch, "--objective", "throughput",
                           "--concurrency", str(n), "--max-latency-ms", str(limit), "--precision",
                           "fp32", "--budget-minutes", str(args.tune_minutes), "--out",
                           str(out / "tune"), "--json"], capture_output=True, text=True)
    answer = json.loads(tune.stdout) if tune.stdout.strip().startswith("{") else {}
    if not answer.get("winner"):
        raise SystemExit(f"tune found no answer (exit {tune.returncode}): {tune.stderr[-1500:]}")
    w = answer["winner"]
    pick_settings = {k: v for k, v in (w.get("settings") or {}).items()}
    print(f"tune ({time.time() - t0:.0f} s): {w['config_key']}", flush=True)
    sides = {
        "ba_throughput": lambda r: benchmark_app(onnx, size, "throughput", args.seconds),
        "ba_latency": lambda r: benchmark_app(onnx, size, "latency", args.seconds),
        "pick": lambda r: ours(args.arch, w["runtime"], w["threads"], pick_settings, args.seconds,
                               out / f"round{r}-pick", f"tune's pick under {n} clients"),
        "ours_ov_throughput": lambda r: ours(args.arch, "openvino", None,
                                             {"concurrency": n, "ov_hint": "throughput"},
                                             args.seconds, out / f"round{r}-ov-throughput",
                                             f"resnext-bench openvino THROUGHPUT hint, {n} clients"),
    }
    names = list(sides)
    rounds = []
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        got = {}
        for name in order:
            got[name] = sides[name](r)
            print(f"round {r}: {name}: {got[name]['fps']:.1f} img/s, p99 {got[name]['p99_ms']:.2f} ms",
                  flush=True)
        rounds.append({"order": order, **got})
    med = {name: {"fps": statistics.median(x[name]["fps"] for x in rounds),
                  "p99_ms": statistics.median(x[name]["p99_ms"] for x in rounds)} for name in names}
    ratio = [x["pick"]["fps"] / x["ba_throughput"]["fps"] for x in rounds]
    summary = {
        "arch": args.arch, "file": onnx, "precision": "fp32 (benchmark_app -infer_precision f32)",
        "load": f"{n} concurrent single-image requests (benchmark_app's infer requests under its "
                "THROUGHPUT hint)",
        "p99_limit_ms": limit, "tune": {"pick": w["config_key"], "vs_default": answer.get("vs_default"),
                                        "seconds": answer.get("wall_seconds")},
        "rounds": rounds, "median": med,
        "pick_fps_over_benchmark_app_throughput": {"per_round": [round(v, 3) for v in ratio],
                                                   "median": round(statistics.median(ratio), 3)},
        "goal": "the pick's img/s >= benchmark_app -hint throughput FPS at the same or lower p99",
        "goal_met_in_median": bool(med["pick"]["fps"] >= med["ba_throughput"]["fps"]
                                   and med["pick"]["p99_ms"] <= med["ba_throughput"]["p99_ms"]),
        "env": capture_env(),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(json.dumps({k: summary[k] for k in ("median", "pick_fps_over_benchmark_app_throughput",
                                              "goal_met_in_median")}, indent=2))


if __name__ == "__main__":
    main()
