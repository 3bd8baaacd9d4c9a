"""What each measuring worker no longer does: re-verify its export.

Before the artifact was passed forward (issue 21), every measuring worker -- and every respawn,
one per configuration and process span -- called ``export_onnx`` again at load: a cache hit,
but one that hashes the file (sha256 against the sidecar), parses it and runs
``onnx.checker.check_model(full_check=True)``, after the group's prepare process had just done
the same. Now the prepare process returns the verified ``Artifact`` and the worker loads its
path as it is.

This measures that call as the old worker made it: in a fresh interpreter (a spawned worker
is one), the cache-hit ``export_onnx`` for the file the configuration runs, ``repeats`` times,
with and without the imports it needed (``onnx`` and the exporter module, which an ONNX
Runtime worker otherwise never imports). The new worker's cost for the same step is building
nothing: its ``Artifact`` arrives over the pipe.

    python benchmarks/artifact_reuse.py --out reports/cpu/artifact-reuse
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

PROBE = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter()
    from resnext_bench.config import QuantOptions
    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx
    t1 = time.perf_counter()
    cfg = ExportConfig(arch=sys.argv[1], precision=sys.argv[2])
    quant = QuantOptions(quant_activations="uint8", calib_crops="on")
    res = export_onnx(cfg, sys.argv[3], quant=quant)
    t2 = time.perf_counter()
    print(json.dumps({"cache_hit": res.cache_hit, "import_s": t1 - t0, "call_s": t2 - t1,
                      "bytes": res.summary.get("bytes"), "path": str(res.path)}))
""")


def probe(arch: str, precision: str, artifacts: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, arch, precision, artifacts],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="resnext50_32x4d")
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="reports/cpu/artifact-reuse")
    args = ap.parse_args()

    from resnext_bench.bench.env import cpu_flags, cpu_model
    from resnext_bench.core.fileio import write_json_atomic, write_text_atomic
    from resnext_bench.core.isa import isa_summary

    results = {}
    for precision in ("fp32", "int8"):
        first = probe(args.arch, precision, args.artifacts)  # builds the file if it is missing
        runs = [probe(args.arch, precision, args.artifacts) for _ in range(args.repeats)]
        assert all(r["cache_hit"] for r in runs), "the timed calls must be cache hits"
        results[precision] = {
            "file_mb": round(first["bytes"] / 1e6, 1),
            "call_s": [round(r["call_s"], 3) for r in runs],
            "import_s": [round(r["import_s"], 3) for r in runs],
            "call_median_s": round(statistics.median(r["call_s"] for r in runs), 3),
            "with_imports_median_s": round(statistics.median(r["call_s"] + r["import_s"] for r in runs), 3)}
    machine = f"{cpu_model()}; ISA: {isa_summary(cpu_flags())}; {platform.node()}"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "artifact-reuse.json", {"arch": args.arch, "machine": machine,
                                                     "repeats": args.repeats, "results": results})
    lines = [f"# Time each measuring worker saves: {args.arch}", "",
             f"Machine: {machine}. `python benchmarks/artifact_reuse.py` ({args.repeats} fresh "
             "interpreters per file, medians).", "",
             "| file | size | re-verification call (old worker, per start) | with the imports it needed |",
             "| --- | --- | --- | --- |"]
    for precision, r in results.items():
        lines.append(f"| {precision} | {r['file_mb']} MB | {r['call_median_s']:.2f} s "
                     f"(runs {', '.join(f'{v:.2f}' for v in r['call_s'])}) | "
                     f"{r['with_imports_median_s']:.2f} s |")
    lines += ["", "The call was made by every measuring worker and every respawn (one per "
              "configuration and process span: `--processes 3` made three per configuration). "
              "A worker now receives the prepare process's verified `Artifact` and spends none "
              "of it; the prepare process still verifies each file once per group.", ""]
    write_text_atomic(out / "README.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
