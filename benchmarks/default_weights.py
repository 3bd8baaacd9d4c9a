"""How the default (calibrated) weights behave on each kind of input, per arch.

For each arch: build the default weights (calibration version and seconds recorded), then run
:func:`resnext_bench.models.weights.prediction_spread` at the arch's default image size: 16
smooth-noise inputs, 16 white-noise inputs, the 16 built-in photos and 16 random crops of them,
each kind's distinct top-1 classes, logit std, median top-1 probability and median top-1/top-2
gap in logit standard deviations. Goals: variety -- >= 8 distinct classes of 16 for the
1000-class ImageNet nets (>= 6 for the 10-class CIFAR nets) and a logit std between 1 and 10 on
every kind; and, for the ImageNet nets (calibration v4), a trained network's confidence -- on
the photos and their crops a median top-1 probability >= 0.6 and a median gap >= 1 logit std,
with >= 12 / 8 / 6 distinct classes over photos, smooth and white noise. Writes
``summary.json`` and ``summary.md`` (machine named); exit 1 when an arch misses a goal.

    python benchmarks/default_weights.py --out reports/cpu/default-weights
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ARCHS = ("resnet18", "resnet50", "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2",
         "resnext29_8x64d", "wrn28_10")
CONFIDENT = ("photos", "photo crops")


def confidence_met(spread: dict, classes: int) -> bool | None:
    """The v4 goal on an ImageNet head (None for the 10-class CIFAR heads, which keep v3's)."""
    if classes < 100:
        return None
    return (all(spread[k]["median_top1_prob"] >= 0.6 and spread[k]["median_gap_std"] >= 1.0
                for k in CONFIDENT)
            and spread["photos"]["distinct_top1"] >= 12 and spread["smooth noise"]["distinct_top1"] >= 8
            and spread["white noise"]["distinct_top1"] >= 6)


def goal_for(num_classes: int) -> int:
    return 8 if num_classes >= 100 else 6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default=",".join(ARCHS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="reports/cpu/default-weights")
    args = ap.parse_args()

    import torch

    from resnext_bench.core.fileio import write_json_atomic, write_text_atomic
    from resnext_bench.models import build_model
    from resnext_bench.models.spec import parse_arch
    from resnext_bench.models.weights import CALIBRATION_VERSION, prediction_spread

    torch.set_num_threads(max(1, torch.get_num_threads()))
    records, ok = [], True
    for arch in args.archs.split(","):
        spec = parse_arch(arch)
        t0 = time.perf_counter()
        model = build_model(spec, seed=args.seed)  # no cache: time the calibration itself
        cal_s = time.perf_counter() - t0
        size = spec.resolve_image_size(None)
        with torch.no_grad():
            spread = prediction_spread(model, size)
        goal = goal_for(spec.num_classes)
        met = all(s["distinct_top1"] >= goal and 1.0 <= s["logit_std"] <= 10.0 for s in spread.values())
        confident = confidence_met(spread, spec.num_classes)
        ok &= met and confident is not False
        records.append({"arch": spec.name, "classes": spec.num_classes, "image_size": size,
                        "calibration_seconds": round(cal_s, 1), "goal_distinct": goal,
                        "goal_met": met, "confidence_met": confident, "kinds": spread})
        print(arch, f"{cal_s:.1f}s", {k: (v["distinct_top1"], v["logit_std"]) for k, v in spread.items()},
              "ok" if met else "MISSED", flush=True)
    out = Path(args.out)
    from resnext_bench.bench.env import capture_env
    from resnext_bench.core.isa import isa_summary

    env = capture_env()
    summary = {"calibration_version": CALIBRATION_VERSION, "seed": args.seed,
               "machine": platform.processor() or platform.machine(), "cpu": env.get("cpu"),
               "isa": isa_summary(env.get("cpu_flags"), env.get("platform")), "torch": torch.__version__,
               "threads": torch.get_num_threads(), "archs": records}
    write_json_atomic(out / "summary.json", summary)
    kinds = list(records[0]["kinds"]) if records else []
    lines = [f"# Default weights (calibration v{CALIBRATION_VERSION}, seed {args.seed}) on four input kinds",
             "", f"Machine: {summary['cpu']}; ISA: {summary['isa']}.", "",
             "Each cell: distinct top-1 classes over 16 inputs / logit std / median top-1 probability / "
             "median top-1-top-2 gap in logit std. Variety goal: >= 8 distinct (>= 6 for 10-class CIFAR "
             "nets) and std 1-10 on every kind. Confidence goal (ImageNet heads, v4): photos and crops "
             "median top-1 probability >= 0.6 and gap >= 1; >= 12 / 8 / 6 distinct over photos, smooth "
             "and white noise (CIFAR heads keep v3's classifier: '-').", "",
             "| arch | classes | px | calibration s | " + " | ".join(kinds) + " | variety | confidence |",
             "|---|---|---|---|" + "---|" * len(kinds) + "---|---|"]
    for r in records:
        cells = [f"{r['kinds'][k]['distinct_top1']} / {r['kinds'][k]['logit_std']:.2f} / "
                 f"{r['kinds'][k]['median_top1_prob']:.2f} / {r['kinds'][k]['median_gap_std']:.2f}" for k in kinds]
        conf = {None: "-", True: "met", False: "MISSED"}[r["confidence_met"]]
        lines.append(f"| {r['arch']} | {r['classes']} | {r['image_size']} | {r['calibration_seconds']} | "
                     + " | ".join(cells) + f" | {'met' if r['goal_met'] else 'MISSED'} | {conf} |")
    write_text_atomic(out / "summary.md", "\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
