"""What layer-wise parity costs: one resnext50_32x4d row's `parity` with and without it.

    python benchmarks/layerwise_cost.py --out reports/cpu/layerwise/cost.json [--rounds 3]

Runs ``resnext-bench parity --arch resnext50_32x4d --runtime ort-cpu --precision int8 --images
builtin`` with ``--no-layers`` and with layers (the default for int8), interleaved, ``--rounds``
times each after one warm-up run of each (exports, the int8 file, the parity reference and the
debug twin cached: what a user's second run pays). Records each command's wall time and the
row's ``parity_layers_seconds`` (the comparison inside the worker), and the ratio of the
medians: the goal is at most 1.30x.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path


def run(args, artifacts, layers: bool):
    cmd = [sys.executable, "-m", "resnext_bench", "parity", "--arch", args.arch, "--runtime", args.runtime,
           "--precision", args.precision, "--images", "builtin", "--artifacts", artifacts, "--json",
           "--layers" if layers else "--no-layers"]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    row = json.loads(res.stdout)[0] if res.stdout.strip().startswith("[") else {}
    return {"layers": layers, "wall_s": round(wall, 2), "exit": res.returncode,
            "parity_layers_seconds": row.get("parity_layers_seconds"),
            "parity_layers_passed": row.get("parity_layers_passed"),
            "error": None if row else res.stderr[-300:]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnext50_32x4d")
    ap.add_argument("--runtime", default="ort-cpu")
    ap.add_argument("--precision", default="int8")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    warm = [run(args, args.artifacts, False), run(args, args.artifacts, True)]
    samples = []
    for r in range(args.rounds):
        order = (False, True) if r % 2 == 0 else (True, False)
        samples += [run(args, args.artifacts, layers) for layers in order]
    off = [s["wall_s"] for s in samples if not s["layers"]]
    on = [s["wall_s"] for s in samples if s["layers"]]
    inner = [s["parity_layers_seconds"] for s in samples if s["layers"] and s["parity_layers_seconds"]]
    record = {"command": f"parity --arch {args.arch} --runtime {args.runtime} --precision {args.precision} "
                         "--images builtin (16 photos)",
              "machine": _machine(),
              "warmup": warm, "samples": samples,
              "median_wall_s": {"no_layers": statistics.median(off), "layers": statistics.median(on)},
              "ratio": round(statistics.median(on) / statistics.median(off), 3),
              "median_parity_layers_seconds": statistics.median(inner) if inner else None}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1))
    print(json.dumps({k: record[k] for k in ("median_wall_s", "ratio", "median_parity_layers_seconds")}))


def _machine() -> dict:
    from resnext_bench.bench.env import capture_env

    env = capture_env()
    return {k: env.get(k) for k in ("cpu", "cpu_count", "hostname", "python", "packages")}


if __name__ == "__main__":
    main()
