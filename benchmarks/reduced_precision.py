"""Reduced-precision parity of the default weights, beside the trained reference's accuracy.

Part 1, per ImageNet arch, on the built-in photos (default weights, the current calibration):
torch bf16, ort-cpu fp16 (the export's own check included), ort-cpu int8 (QDQ calibrated on
the photos) and, where installed, openvino bf16 and int8 -- each row's max_rel_err, cosine and
top-1 agreement against torch fp32 eager, through ``resnext-bench parity`` (the same code path
as every row). Targets (issue 24): fp16 max_rel_err <= 1e-2 and cosine >= 0.9999; bf16 cosine
>= 0.999 and top-1 >= 0.9; int8 cosine >= 0.99.

Part 2, the trained reference (``--weights digits``: a resnext29_2x8d trained on scikit-learn's
digits, cached after the first run): held-out top-1 accuracy on every runtime and precision
here, with the drop against torch fp32 and its bootstrap interval (``--images digits``; int8
calibrated on the training split, ``--calib-images digits-train``).

Part 3: whether the default weights' reduced-precision errors are within a factor of 3 of the
trained net's, per precision (max_rel_err ratio, and the ratio of the cosine gaps 1 - cosine).

    python benchmarks/reduced_precision.py --out reports/cpu/default-weights
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ARCHS = ("resnet18", "resnet50", "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2")
#: (runtime, precision) of part 1
#: int8 by each quantizer (the default NNCF, and ONNX Runtime's quantize_static)
IMAGENET_CASES = (("torch", "bf16"), ("ort-cpu", "fp16"), ("ort-cpu", "int8"), ("ort-cpu", "int8", "ort"),
                  ("openvino", "bf16"), ("openvino", "int8"), ("openvino", "int8", "ort"))
TRAINED_CASES = (("torch", "fp32"), ("torch", "bf16"), ("ort-cpu", "fp32"), ("ort-cpu", "fp16"),
                 ("ort-cpu", "int8"), ("ort-cpu", "int8", "ort"), ("openvino", "fp32"),
                 ("openvino", "bf16"), ("openvino", "int8"), ("openvino", "int8", "ort"))
TARGETS = {"fp16": {"max_rel_err": 1e-2, "cosine": 0.9999},
           "bf16": {"cosine": 0.999, "top1": 0.9},
           "int8": {"cosine": 0.99, "top1": 0.9}}


def target_met(precision: str, r) -> bool | None:
    t = TARGETS.get(precision.split(" ")[0])
    if t is None or r.parity_cosine is None:
        return None
    ok = r.parity_cosine >= t["cosine"]
    if "max_rel_err" in t:
        ok &= r.parity_max_rel_err <= t["max_rel_err"]
    if "top1" in t:
        ok &= r.parity_top1_agreement >= t["top1"]
    return bool(ok)


def run_cases(arch: str, cases, values: dict, artifacts: str) -> list:
    from resnext_bench.bench.api import run_parity
    from resnext_bench.config import RunConfig
    from resnext_bench.runtimes.registry import check_available

    rows = []
    for runtime, precision, *quantizer in cases:
        ok, reason = check_available(runtime)
        label = precision + (f" ({quantizer[0]})" if quantizer else "")
        if not ok:
            rows.append({"runtime": runtime, "precision": label, "status": "skipped", "error": reason})
            continue
        t0 = time.perf_counter()
        extra = {"quantizer": quantizer[0]} if quantizer else {}
        given = {k: v for k, v in values.items() if precision == "int8" or k != "calib_images"}
        cfg = RunConfig.from_values({"archs": arch, "runtimes": runtime, "precisions": precision,
                                     "artifacts": artifacts, **given, **extra})
        (row,) = run_parity(cfg)
        rows.append({"runtime": runtime, "precision": label, "status": row.status,
                     "error": row.error, "max_rel_err": row.parity_max_rel_err,
                     "cosine": row.parity_cosine, "top1_agreement": row.parity_top1_agreement,
                     "passed": row.parity_passed, "failed": row.parity_failed,
                     "precision_executed": row.precision_executed,
                     "accuracy_top1": row.accuracy_top1, "accuracy_top1_drop": row.accuracy_top1_drop,
                     "accuracy_top1_drop_ci": row.accuracy_top1_drop_ci,
                     "images": row.parity_images, "weights": row.parity_weights,
                     "quantizer": (row.quantization or {}).get("quantizer"),
                     "target_met": target_met(precision, row) if row.ok else None,
                     "seconds": round(time.perf_counter() - t0, 1)})
        print(arch, runtime, precision, {k: rows[-1][k] for k in ("status", "max_rel_err", "cosine",
              "top1_agreement", "accuracy_top1", "target_met")}, flush=True)
    return rows


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def render(summary: dict) -> str:
    """The markdown of a summary (``--render-only`` re-renders a recorded JSON)."""
    imagenet, trained = summary["imagenet"], summary["trained_reference"]["rows"]
    factor, arch_ref = summary["default_vs_trained"], summary["trained_reference"]["arch"]
    lines = [f"# Reduced precision on the default weights (calibration v{summary['calibration_version']}) "
             "and the trained reference",
             "", f"Machine: {summary['cpu']}; ISA: {summary['isa']}.",
             "Parity against torch fp32 eager on the 16 built-in photos (int8 calibrated on them); "
             "targets: fp16 max_rel_err <= 1e-2 and cosine >= 0.9999, bf16 cosine >= 0.999 and top-1 >= 0.9, "
             "int8 cosine >= 0.99 and top-1 >= 0.9. int8 without a name is the default quantizer (NNCF); "
             "'(ort)' is ONNX Runtime's quantize_static. The tool verdict is the row's own (core/parity.py).", "",
             "| arch | runtime | precision | max_rel_err | cosine | top-1 agreement | tool verdict | target |",
             "|---|---|---|---|---|---|---|---|"]
    for arch, rows in imagenet.items():
        for r in rows:
            if r["status"] != "ok":
                lines.append(f"| {arch} | {r['runtime']} | {r['precision']} | {r['status']}: {r['error']} | | | | |")
                continue
            verdict = "pass" if r["passed"] else "FAIL: " + "; ".join(r["failed"] or [])
            lines.append(f"| {arch} | {r['runtime']} | {r['precision']} | {fmt(r['max_rel_err'], '.2e')} | "
                         f"{fmt(r['cosine'], '.6f')} | {fmt(r['top1_agreement'], '.3f')} | {verdict} | "
                         f"{'met' if r['target_met'] else ('MISSED' if r['target_met'] is False else '-')} |")
    met = [r["target_met"] for rows in imagenet.values() for r in rows if r.get("target_met") is not None]
    lines += ["", f"Targets met: {sum(met)} of {len(met)}.", "",
              f"## Trained reference: {arch_ref} on scikit-learn's digits (held-out split)", "",
              "| runtime | precision | held-out top-1 | drop vs torch fp32 (points, 95 % CI) | max_rel_err | cosine | tool verdict |",
              "|---|---|---|---|---|---|---|"]
    for r in trained:
        if r["status"] != "ok":
            lines.append(f"| {r['runtime']} | {r['precision']} | {r['status']}: {r['error']} | | | | |")
            continue
        ci = r["accuracy_top1_drop_ci"] or [None, None]
        verdict = "pass" if r["passed"] else "FAIL: " + "; ".join(r["failed"] or [])
        lines.append(f"| {r['runtime']} | {r['precision']} | {100 * r['accuracy_top1']:.2f} % | "
                     f"{r['accuracy_top1_drop']:+.2f} [{ci[0]:+.2f}, {ci[1]:+.2f}] | {fmt(r['max_rel_err'], '.2e')} | "
                     f"{fmt(r['cosine'], '.6f')} | {verdict} |")
    within = sum(1 for f in factor if f["within_3x"])
    rel_ok = sum(1 for f in factor if f["max_rel_err_ratio"] <= 3)
    lines += ["", "## Default weights' errors against the trained net's (same runtime and precision)", "",
              f"Within a factor of 3 on both measures: {within} of {len(factor)}. On max_rel_err alone: "
              f"{rel_ok} of {len(factor)}. The trained net is a 29-layer CIFAR net against 18- to "
              "101-layer ImageNet ones; the default weights (v4) have photo pseudo-classes, so their "
              "top class stands clear as a trained net's does.", "",
              "| arch | runtime | precision | max_rel_err ratio | (1 - cosine) ratio | within 3x |",
              "|---|---|---|---|---|---|"]
    for f in factor:
        lines.append(f"| {f['arch']} | {f['runtime']} | {f['precision']} | {f['max_rel_err_ratio']} | "
                     f"{f['cosine_gap_ratio']} | {'yes' if f['within_3x'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default=",".join(ARCHS))
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--out", default="reports/cpu/default-weights")
    ap.add_argument("--render-only", action="store_true", help="re-render OUT/reduced-precision.json")
    args = ap.parse_args()
    if args.render_only:
        from resnext_bench.core.fileio import write_text_atomic

        summary = json.loads((Path(args.out) / "reduced-precision.json").read_text())
        write_text_atomic(Path(args.out) / "reduced-precision.md", render(summary))
        return 0

    import torch

    from resnext_bench.bench.env import capture_env
    from resnext_bench.core.isa import isa_summary
    from resnext_bench.core.fileio import write_json_atomic, write_text_atomic
    from resnext_bench.models.digits import REFERENCE_ARCH
    from resnext_bench.models.versions import CALIBRATION_VERSION

    imagenet = {}
    for arch in args.archs.split(","):
        imagenet[arch] = run_cases(arch, IMAGENET_CASES, {"images": "builtin", "calib_images": "builtin"},
                                   args.artifacts)
    trained = run_cases(REFERENCE_ARCH, TRAINED_CASES, {"weights": "digits", "images": "digits",
                                                        "calib_images": "digits-train"}, args.artifacts)
    # part 3: default weights vs the trained net, per (runtime, precision) both measured
    tr = {(r["runtime"], r["precision"]): r for r in trained if r["status"] == "ok"}
    factor = []
    for arch, rows in imagenet.items():
        for r in rows:
            t = tr.get((r["runtime"], r["precision"]))
            if r["status"] != "ok" or t is None:
                continue
            rel = r["max_rel_err"] / max(t["max_rel_err"], 1e-12)
            gap = (1 - r["cosine"]) / max(1 - t["cosine"], 1e-12)
            factor.append({"arch": arch, "runtime": r["runtime"], "precision": r["precision"],
                           "max_rel_err_ratio": round(rel, 2), "cosine_gap_ratio": round(gap, 2),
                           "within_3x": rel <= 3 and gap <= 3})
    env = capture_env()
    isa = isa_summary(env.get("cpu_flags"), env.get("platform"))
    summary = {"calibration_version": CALIBRATION_VERSION, "targets": TARGETS,
               "cpu": env.get("cpu"), "isa": isa, "packages": env.get("packages"),
               "machine": platform.machine(), "torch": torch.__version__,
               "imagenet": imagenet, "trained_reference": {"arch": REFERENCE_ARCH, "rows": trained},
               "default_vs_trained": factor}
    out = Path(args.out)
    write_json_atomic(out / "reduced-precision.json", summary)
    write_text_atomic(out / "reduced-precision.md", render(summary))
    missed = [1 for rows in imagenet.values() for r in rows if r.get("target_met") is False]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
