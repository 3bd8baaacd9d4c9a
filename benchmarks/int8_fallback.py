"""What int8 costs and where it stops paying: the accuracy-control curve of one arch.

1. Quantize the arch's fp32 export with each calibration method (minmax, entropy,
   percentile) on the default calibration data (seeded random crops of the built-in photos) and
   measure each plain int8 file on the control set (other crops) against fp32.
2. For the methods in ``--fallback-methods``, run the accuracy control
   (``--int8-target``, default ``tolerance``): every bisection step is a real file with N
   nodes kept in float.
3. Bench fp32, every plain file and every step's file on each runtime asked for
   (``--runtime ort-cpu,openvino``), all interleaved in one job (each in its own worker), with
   parity on the built-in photos' centre crops -- neither the calibration nor the control inputs.

Writes ``results.jsonl`` / ``env.json`` (ordinary rows: ``report`` and ``compare`` read them),
``summary.json`` and ``curve.md``: nodes in float -> p50 -> parity, per runtime, and which
method met the target cheapest.

    python benchmarks/int8_fallback.py --arch resnext50_32x4d --out reports/cpu/int8/fallback
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnext50_32x4d")
    ap.add_argument("--runtime", default="ort-cpu,openvino")
    ap.add_argument("--methods", default="minmax,entropy,percentile")
    ap.add_argument("--fallback-methods", default="minmax")
    ap.add_argument("--target", default="tolerance")
    ap.add_argument("--calib-count", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--out", default="reports/cpu/int8/fallback")
    args = ap.parse_args()

    from resnext_bench.bench.api import config_from_cli
    from resnext_bench.bench.plan import combos
    from resnext_bench.bench.runner import Runner
    from resnext_bench.config import QuantOptions
    from resnext_bench.core.fileio import write_json_atomic, write_text_atomic
    from resnext_bench.core.parity import parse_int8_target, target_misses
    from resnext_bench.core.rundir import append_row
    from resnext_bench.exporters.control_set import CONTROL_SEED_OFFSET, control_metrics
    from resnext_bench.exporters.calibration import ort_outputs as _outputs
    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx
    from resnext_bench.exporters.quantize import CALIB_SEED, calibration_images, quantize_onnx
    from resnext_bench.models.spec import parse_arch
    from resnext_bench.runtimes.registry import check_available

    size = parse_arch(args.arch).resolve_image_size(None)
    fp32 = export_onnx(ExportConfig(args.arch), args.artifacts).path
    target = parse_int8_target(args.target)
    methods = {}
    files = [("fp32", 0, str(fp32))]
    for method in args.methods.split(","):
        t0 = time.perf_counter()
        plain_q = QuantOptions(calib_method=method, calib_count=args.calib_count)
        plain = quantize_onnx(fp32, plain_q, args.artifacts)
        control = calibration_images(plain_q, size, seed=CALIB_SEED + CONTROL_SEED_OFFSET)
        metrics = control_metrics(_outputs(fp32, control), _outputs(plain.path, control))
        entry = {"plain": {"path": str(plain.path), **metrics, "met": not target_misses(metrics, target)},
                 "calibration_seconds": plain.summary["quantization"].get("calibration_seconds")}
        files.append((f"int8 {method}", 0, str(plain.path)))
        if method in args.fallback_methods.split(","):
            res = quantize_onnx(fp32, QuantOptions(calib_method=method, calib_count=args.calib_count,
                                                   int8_target=args.target), args.artifacts)
            fb = res.summary["quantization"]["fallback"]
            entry["fallback"] = fb
            for step in fb["steps"]:
                if step["float_nodes"]:
                    files.append((f"int8 {method}", step["float_nodes"], step["path"]))
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        methods[method] = entry
        print(method, json.dumps({k: v for k, v in entry["plain"].items() if k != "path"}),
              "float nodes chosen:", len(entry.get("fallback", {}).get("float_nodes", [])) if "fallback" in entry else "-",
              f"{entry['seconds']} s", flush=True)

    out = Path(args.out)
    runner = None
    rows = []
    for runtime in args.runtime.split(","):
        ok, reason = check_available(runtime)
        if not ok:
            print(f"{runtime}: skipped ({reason})", flush=True)
            continue
        jobs = []
        for label, n_float, path in files:
            cfg = config_from_cli({"onnx": path, "runtimes": runtime, "batches": "1",
                                   "threads": str(args.threads), "iters": args.iters,
                                   "rounds": args.rounds, "warmup": 5, "images": "builtin",
                                   "artifacts": args.artifacts, "group_size": len(files)})
            (combo,) = combos(cfg, strict=True)
            jobs.append((cfg, combo))
        runner = runner or Runner(jobs[0][0], out)
        if not rows:
            runner.write_env()
        measured = runner.measure_group([runner.job(c, cfg) for cfg, c in jobs])
        for (label, n_float, path), row in zip(files, measured):
            row.extra["int8_label"], row.extra["float_nodes"] = label, n_float
            append_row(runner.out_dir, row)
            rows.append((label, n_float, path, row))
        print(runtime, "measured", len(measured), flush=True)

    from resnext_bench.bench.env import cpu_flags, cpu_model
    from resnext_bench.core.isa import isa_summary

    lines = [f"# int8 accuracy control: {args.arch}", "",
             f"Machine: {cpu_model()}; ISA: {isa_summary(cpu_flags())}.", "",
             f"Target `{args.target}` = {target} on the control set (seeded crops of the built-in photos, "
             f"seed {CALIB_SEED + CONTROL_SEED_OFFSET}; calibration: {args.calib_count} crops, seed {CALIB_SEED}). "
             "Parity below: torch fp32 eager on the built-in photos' centre crops (neither set).", "",
             "## Calibration methods, plain int8 (control set)", "",
             "| method | cosine | top-1 | max_rel_err | meets target | float nodes the control chose |",
             "|---|---|---|---|---|---|"]
    for m, e in methods.items():
        p = e["plain"]
        chosen = len(e["fallback"]["float_nodes"]) if "fallback" in e else "not run"
        lines.append(f"| {m} | {p['cosine']:.4f} | {p['top1']:.3f} | {p['max_rel_err']:.3f} | "
                     f"{'yes' if p['met'] else 'no'} | {chosen} |")
    for m, e in methods.items():
        if "fallback" not in e:
            continue
        fb = e["fallback"]
        lines += ["", f"## {m}: bisection steps (control set)", "",
                  f"{fb['quantized_nodes'] or 0} quantized nodes ranked by {fb['ranking_method']}; chosen: "
                  f"{len(fb['float_nodes'])} in float ({', '.join(fb['float_nodes']) or 'none'}).", "",
                  "| nodes in float | cosine | top-1 | meets target |", "|---|---|---|---|"]
        lines += [f"| {s['float_nodes']} | {s['cosine']:.4f} | {s['top1']:.3f} | {'yes' if s['met'] else 'no'} |"
                  for s in fb["steps"]]
    by_rt: dict[str, list] = {}
    for label, n_float, path, row in rows:
        by_rt.setdefault(row.runtime, []).append((label, n_float, row))
    for rt, items in by_rt.items():
        base = next((r for lab, _, r in items if lab == "fp32" and r.latency_p50_ms), None)
        lines += ["", f"## Latency and parity on {rt} (batch 1, {args.threads} threads, interleaved)", "",
                  "| file | nodes in float | p50 ms | vs fp32 | round spread | parity cosine | top-1 | parity |",
                  "|---|---|---|---|---|---|---|---|"]
        for label, n_float, r in sorted(items, key=lambda t: (t[0] != "fp32", t[0], t[1])):
            if not r.ok:
                lines.append(f"| {label} | {n_float} | {r.status}: {r.error} | | | | | |")
                continue
            speed = f"{base.latency_p50_ms / r.latency_p50_ms:.2f}x" if base else "-"
            verdict = "pass" if r.parity_passed else "FAIL: " + "; ".join(r.parity_failed or [])
            lines.append(f"| {label} | {n_float} | {r.latency_p50_ms:.2f} | {speed} | {r.round_spread:.1%} | "
                         f"{r.parity_cosine:.4f} | {r.parity_top1_agreement:.3f} | {verdict} |")
    summary = {"arch": args.arch, "target": target, "target_spec": args.target, "methods": methods,
               "files": [{"label": lab, "float_nodes": n, "path": p} for lab, n, p in files]}
    write_json_atomic(out / "summary.json", summary)
    write_text_atomic(out / "curve.md", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
