"""Both int8 quantizers side by side: parity, accuracy drop and speed, in one run.

Part 1 (default weights, ``--arch``, default resnext50_32x4d): one ``resnext-bench bench`` job
with ORT CPU and OpenVINO at fp32 and int8, the int8 file made by each quantizer (``--quantizer
nncf,ort``) from the same fp32 file on the same 32 calibration crops of the built-in photos;
every configuration measured in the same interleaved rounds at batch 1 and the threads given,
parity on the 16 built-in photos (centre crops) against torch fp32 eager. Speed-ups are
ratios of p50 to ORT fp32's p50 *within this run*.

Part 2 (the trained reference, ``--weights digits``: resnext29_2x8d trained on scikit-learn's
digits): ``resnext-bench parity`` of each quantizer's int8 file on each runtime against torch
fp32, on the 397 held-out digits -- the held-out top-1 accuracy and its drop.

Writes ``summary.json`` and ``summary.md`` (machine, CPU model and ISA recorded) under --out.

    python benchmarks/int8_quantizers.py --out reports/cpu/int8-quantizers
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

RUNTIMES = ("ort-cpu", "openvino", "ort-openvino")


def usable(runtimes) -> list[str]:
    """The runtimes usable here (ort-openvino offers devices on Intel CPUs only)."""
    from resnext_bench.runtimes.registry import check_available

    return [r for r in runtimes if check_available(r)[0]]


def _cli(*args) -> int:
    print("$ resnext-bench " + " ".join(map(str, args)), flush=True)
    return subprocess.call([sys.executable, "-m", "resnext_bench", *map(str, args)])


def _rows(run: Path) -> list:
    from resnext_bench.core.fileio import read_jsonl
    from resnext_bench.core.schema import row_from_json

    return [row_from_json(r) for r in read_jsonl(run / "results.jsonl")[0]]


def _label(r) -> str:
    return f"{r.runtime} {r.precision}" + (f" ({r.quantization['quantizer']})" if r.quantization else "")


def part_one(args, run: Path, runtimes) -> tuple[list, int]:
    """The default-weights bench (see the module doc): rows and the bench's exit code."""
    if run.exists():
        import shutil

        shutil.rmtree(run)
    rc = _cli("bench", "--arch", args.arch, "--runtime", ",".join(runtimes), "--precision", "fp32,int8",
              "--quantizer", "nncf,ort", "--batch", 1, "--threads", args.threads, "--rounds", args.rounds,
              "--iters", args.iters, "--warmup", 5, "--images", "builtin", "--artifacts", args.artifacts,
              "--out", run, "-q")
    return summarize_part_one(run), rc


def summarize_part_one(run: Path) -> list:
    rows = _rows(run)
    base = next(r for r in rows if r.runtime == "ort-cpu" and r.precision == "fp32")
    part1 = []
    for r in rows:
        q = r.quantization or {}
        part1.append({"config": _label(r), "runtime": r.runtime, "precision": r.precision,
                      "quantizer": q.get("quantizer"), "library": q.get("library"),
                      "recipe": {k: q.get(k) for k in ("activations", "weights", "reduce_range", "method")} if q else None,
                      "calibration_seconds": q.get("calibration_seconds"),
                      "latency_p50_ms": r.latency_p50_ms, "round_spread": r.round_spread,
                      "speedup_vs_ort_fp32": round(base.latency_p50_ms / r.latency_p50_ms, 2)
                      if r.latency_p50_ms else None,
                      "cosine": r.parity_cosine, "max_rel_err": r.parity_max_rel_err,
                      "top1_agreement": r.parity_top1_agreement, "parity_passed": r.parity_passed,
                      "parity_failed": r.parity_failed, "precision_executed": r.precision_executed})
    return part1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnext50_32x4d")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--out", default="reports/cpu/int8-quantizers")
    ap.add_argument("--skip-trained", action="store_true")
    ap.add_argument("--trained-only", action="store_true", help="part 2 only (part 1 summarized from its recorded run, OUT/bench-run)")
    args = ap.parse_args()

    from resnext_bench.bench.env import capture_env
    from resnext_bench.core.fileio import write_json_atomic, write_text_atomic
    from resnext_bench.core.isa import isa_summary

    out = Path(args.out)
    runtimes = usable(RUNTIMES)
    t0 = time.perf_counter()
    if args.trained_only:  # part 1 from its recorded run
        part1 = summarize_part_one(out / "bench-run")
        rc = json.loads((out / "summary.json").read_text())["bench_exit_code"] \
            if (out / "summary.json").is_file() else None
    else:
        part1, rc = part_one(args, out / "bench-run", runtimes)
    part2 = []
    if not args.skip_trained:
        trained = out / "trained-run"
        if trained.exists():
            import shutil

            shutil.rmtree(trained)
        _cli("bench", "--arch", "resnext29_2x8d", "--weights", "digits", "--images", "digits",
             "--calib-images", "digits-train", "--runtime", ",".join(runtimes), "--precision", "fp32,int8",
             "--quantizer", "nncf,ort", "--batch", 1, "--rounds", 2, "--iters", 5, "--warmup", 2,
             "--artifacts", args.artifacts, "--out", trained, "-q")
        for r in _rows(trained):
            part2.append({"config": _label(r), "accuracy_top1": r.accuracy_top1,
                          "accuracy_ref_top1": r.accuracy_ref_top1,
                          "accuracy_top1_drop": r.accuracy_top1_drop,
                          "accuracy_top1_drop_ci": r.accuracy_top1_drop_ci,
                          "cosine": r.parity_cosine, "max_rel_err": r.parity_max_rel_err,
                          "top1_agreement": r.parity_top1_agreement, "parity_passed": r.parity_passed})
    env = capture_env()
    summary = {"cpu": env.get("cpu"), "isa": isa_summary(env.get("cpu_flags"), env.get("platform")),
               "cpu_flags": env.get("cpu_flags"), "packages": env.get("packages"), "arch": args.arch,
               "threads": args.threads, "rounds": args.rounds, "seconds": round(time.perf_counter() - t0),
               "bench_exit_code": rc, "default_weights": part1, "trained_reference": part2}
    write_json_atomic(out / "summary.json", summary)
    write_text_atomic(out / "summary.md", render(summary))
    print(render(summary))
    return 0


def _f(v, spec):
    return "-" if v is None else format(v, spec)


def render(s: dict) -> str:
    lines = [f"# int8 quantizers side by side: {s['arch']}", "",
             f"Machine: {s['cpu']}; ISA: {s['isa']}. Threads {s['threads']}, batch 1, {s['rounds']} "
             "interleaved rounds; parity against torch fp32 eager on the 16 built-in photos; int8 "
             "calibrated on 32 random crops of them (the same crops for both quantizers).", "",
             "| configuration | p50 ms | spread | vs ORT fp32 | cosine | max_rel_err | top-1 agreement | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for r in s["default_weights"]:
        verdict = "pass" if r["parity_passed"] else "FAIL: " + "; ".join(r["parity_failed"] or [])
        lines.append(f"| {r['config']} | {_f(r['latency_p50_ms'], '.2f')} | {_f(r['round_spread'], '.0%')} | "
                     f"{_f(r['speedup_vs_ort_fp32'], '.2f')}x | {_f(r['cosine'], '.5f')} | "
                     f"{_f(r['max_rel_err'], '.3f')} | {_f(r['top1_agreement'], '.3f')} | {verdict} |")
    recipes = {r["quantizer"]: (r["library"], r["recipe"], r["calibration_seconds"])
               for r in s["default_weights"] if r["quantizer"]}
    lines += ["", "Recipes: " + "; ".join(f"{q}: {lib}, {json.dumps(rec)}, calibrated in {sec} s"
                                         for q, (lib, rec, sec) in recipes.items())]
    if s["trained_reference"]:
        lines += ["", "## Trained reference (resnext29_2x8d on scikit-learn's digits, 397 held out)", "",
                  "| configuration | held-out top-1 | drop (points, 95 % CI) | cosine | max_rel_err | verdict |",
                  "|---|---|---|---|---|---|"]
        for r in s["trained_reference"]:
            ci = r["accuracy_top1_drop_ci"] or [0, 0]
            lines.append(f"| {r['config']} | {_f(r['accuracy_top1'], '.2%')} | "
                         f"{_f(r['accuracy_top1_drop'], '+.2f')} [{ci[0]:+.2f}, {ci[1]:+.2f}] | "
                         f"{_f(r['cosine'], '.5f')} | {_f(r['max_rel_err'], '.3f')} | "
                         f"{'pass' if r['parity_passed'] else 'FAIL'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
