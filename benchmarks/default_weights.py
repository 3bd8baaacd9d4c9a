"""How the default (calibrated) weights behave on each kind of input, per arch.

For each arch: build the default weights (calibration version and seconds recorded), then run
:func:`resnext_bench.models.weights.prediction_spread` at the arch's default image size: 16
smooth-noise inputs, 16 white-noise inputs and the 16 built-in photos, each kind's distinct top-1
classes and logit std. The goal (issue 13): >= 8 distinct classes of 16 for the 1000-class
ImageNet nets (>= 6 for the 10-class CIFAR nets, whose 16 inputs have only 10 classes to land in)
and a logit std between 1 and 10 on every kind. Writes ``summary.json`` and ``summary.md``;
exit 1 when an arch misses the goal.

    python benchmarks/default_weights.py --out reports/cpu/default-weights
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ARCHS = ("resnet18", "resnet50", "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2",
         "resnext29_8x64d", "wrn28_10")


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
        ok &= met
        records.append({"arch": spec.name, "classes": spec.num_classes, "image_size": size,
                        "calibration_seconds": round(cal_s, 1), "goal_distinct": goal,
                        "goal_met": met, "kinds": spread})
        print(arch, f"{cal_s:.1f}s", {k: (v["distinct_top1"], v["logit_std"]) for k, v in spread.items()},
              "ok" if met else "MISSED", flush=True)
    out = Path(args.out)
    summary = {"calibration_version": CALIBRATION_VERSION, "seed": args.seed,
               "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
               "threads": torch.get_num_threads(), "archs": records}
    write_json_atomic(out / "summary.json", summary)
    kinds = list(records[0]["kinds"]) if records else []
    lines = [f"# Default weights (calibration v{CALIBRATION_VERSION}, seed {args.seed}) on three input kinds",
             "", "distinct top-1 classes over 16 inputs / logit std; goal: >= 8 distinct (>= 6 for "
             "10-class CIFAR nets) and std 1-10 on every kind", "",
             "| arch | classes | px | calibration s | " + " | ".join(kinds) + " | goal |",
             "|---|---|---|---|" + "---|" * len(kinds) + "---|"]
    for r in records:
        cells = [f"{r['kinds'][k]['distinct_top1']} / {r['kinds'][k]['logit_std']:.2f}" for k in kinds]
        lines.append(f"| {r['arch']} | {r['classes']} | {r['image_size']} | {r['calibration_seconds']} | "
                     + " | ".join(cells) + f" | {'met' if r['goal_met'] else 'MISSED'} |")
    write_text_atomic(out / "summary.md", "\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
