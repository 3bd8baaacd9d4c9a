"""The ``openvino`` runtime's latency against OpenVINO's own harness, ``benchmark_app``.

For the same ONNX file, precision and threads, measured in the same job, alternating (tool,
benchmark_app, tool, benchmark_app ...) so the shared machine's drift hits both alike: the
tool's p50 must be within 5 % of benchmark_app's median (the median of each side's repetitions
is compared). Two settings per precision:

* ``-hint none -nthreads T -nstreams 1 -nireq 1 -api sync`` against
  ``--ov-hint none --threads T --ov-streams 1`` (benchmark_app takes ``-nthreads`` only with
  ``-hint none``);
* ``-hint latency -api sync`` against ``--ov-hint latency`` (the tool's default).

Precisions: fp32 (``-infer_precision f32``), bf16 (``bf16``, where the CPU has it) and int8 (the
tool's QDQ file, float parts ``f32``). benchmark_app reports the precision it compiled with;
that is recorded too, so a row and its cross-check provably ran the same thing.

    python benchmarks/openvino_crosscheck.py --arch resnext50_32x4d --out reports/cpu/openvino
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HINT_FOR = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
TOLERANCE = 0.05


def exported(arch: str, precision: str, artifacts: str, rb: str) -> str:
    out = subprocess.run([rb, "export", "--arch", arch, "--precision", precision,
                          "--out", artifacts, "--json"], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)["path"]


def tool_p50(rb: str, onnx: str, precision: str, threads: int, hint: str, seconds: float,
             artifacts: str) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        args = [rb, "bench", "--onnx", onnx, "--runtime", "openvino", "--precision", precision,
                "--batch", "1", "--duration", str(seconds), "--rounds", "1", "--warmup", "10",
                "--no-parity", "--ov-hint", hint, "--artifacts", artifacts, "--out", tmp, "-q"]
        if hint == "none":
            args += ["--threads", str(threads), "--ov-streams", "1"]
        subprocess.run(args, check=True, capture_output=True, text=True)
        row = json.loads(Path(tmp, "results.jsonl").read_text().splitlines()[-1])
    return row["latency_p50_ms"], row["runtime_info"].get("compiled_properties", {})


def app_median(app: str, onnx: str, precision: str, threads: int, hint: str, seconds: float,
               size: int) -> tuple[float, str]:
    args = [app, "-m", onnx, "-d", "CPU", "-api", "sync", "-t", str(int(seconds)), "-hint", hint,
            "-infer_precision", HINT_FOR[precision], "-shape", f"[1,3,{size},{size}]"]
    if hint == "none":
        args += ["-nthreads", str(threads), "-nstreams", "1", "-nireq", "1"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    median = re.search(r"Median:\s+([\d.]+)\s*ms", out)
    prec = re.search(r"INFERENCE_PRECISION_HINT:\s*(.+)", out)
    if median is None:
        raise RuntimeError("benchmark_app printed no median latency:\n" + out[-2000:])
    from resnext_bench.runtimes.openvino_native import precision_name

    return float(median.group(1)), precision_name(prec.group(1)) if prec else "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnext50_32x4d")
    ap.add_argument("--precisions", default="fp32,bf16,int8")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--hints", default="none,latency")
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--out", default="reports/cpu/openvino")
    args = ap.parse_args()

    bindir = Path(sys.executable).parent
    rb = str(bindir / "resnext-bench")
    app = shutil.which("benchmark_app", path=str(bindir)) or shutil.which("benchmark_app")
    if app is None:
        print("benchmark_app not found (pip install openvino)", file=sys.stderr)
        return 2
    from resnext_bench.bench.env import cpu_flags, cpu_model
    from resnext_bench.core.fileio import write_json_atomic, write_text_atomic
    from resnext_bench.core.isa import isa_summary, precisions_worth_trying
    from resnext_bench.models.spec import parse_arch

    size = parse_arch(args.arch).resolve_image_size(None)
    worth = precisions_worth_trying(cpu_flags())
    files = {}
    results = []
    for precision in args.precisions.split(","):
        if precision == "bf16" and "bf16" not in worth:
            results.append({"precision": precision, "skipped": "no native bf16 on this CPU"})
            continue
        onnx_prec = "int8" if precision == "int8" else "fp32"
        if onnx_prec not in files:
            files[onnx_prec] = exported(args.arch, onnx_prec, args.artifacts, rb)
        onnx = files[onnx_prec]
        for hint in args.hints.split(","):
            tool, app_ms, app_prec, tool_props = [], [], set(), {}
            for rep in range(args.reps):
                p50, tool_props = tool_p50(rb, onnx, precision, args.threads, hint, args.seconds, args.artifacts)
                tool.append(p50)
                med, prec = app_median(app, onnx, precision, args.threads, hint, args.seconds, size)
                app_ms.append(med)
                app_prec.add(prec)
                print(precision, hint, rep, f"tool p50 {p50:.3f} ms, benchmark_app median {med:.3f} ms ({prec})",
                      flush=True)
            t, a = statistics.median(tool), statistics.median(app_ms)
            results.append({"precision": precision, "hint": hint, "onnx": onnx, "threads": args.threads,
                            "tool_p50_ms": tool, "benchmark_app_median_ms": app_ms,
                            "tool_median_ms": t, "app_median_ms": a, "ratio": t / a,
                            "within_5pct": abs(t / a - 1) <= TOLERANCE,
                            "benchmark_app_precision": sorted(app_prec),
                            "tool_compiled_properties": tool_props})
    import openvino

    summary = {"arch": args.arch, "cpu": cpu_model(), "isa": isa_summary(cpu_flags()),
               "openvino": openvino.__version__, "reps": args.reps, "seconds": args.seconds,
               "results": results}
    out = Path(args.out)
    write_json_atomic(out / "benchmark_app-crosscheck.json", summary)
    lines = [f"# openvino runtime vs benchmark_app ({args.arch}, batch 1, {args.threads} threads where set)", "",
             f"{summary['cpu']}; {summary['isa']}; OpenVINO {summary['openvino']}. "
             f"{args.reps} alternating repetitions of {args.seconds:g} s each side; medians compared.", "",
             "| precision | hint | tool p50 ms (reps) | benchmark_app median ms (reps) | tool / app | within 5 % | benchmark_app ran |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        if "skipped" in r:
            lines.append(f"| {r['precision']} | - | skipped: {r['skipped']} | | | | |")
            continue
        lines.append(f"| {r['precision']} | {r['hint']} | {r['tool_median_ms']:.2f} "
                     f"({', '.join(f'{v:.2f}' for v in r['tool_p50_ms'])}) | {r['app_median_ms']:.2f} "
                     f"({', '.join(f'{v:.2f}' for v in r['benchmark_app_median_ms'])}) | {r['ratio']:.3f} | "
                     f"{'yes' if r['within_5pct'] else 'NO'} | {', '.join(r['benchmark_app_precision'])} |")
    write_text_atomic(out / "benchmark_app-crosscheck.md", "\n".join(lines) + "\n")
    return 0 if all(r.get("within_5pct", True) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
