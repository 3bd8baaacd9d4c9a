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

With ``--compare-src OLD/src`` (a checkout of the code before the change: ``git worktree add
/tmp/old 1254f6e``) it also times a whole ``bench`` of the same configuration with three
processes (three measuring workers), old and new code interleaved, ``repeats`` times each: the
wall time, the rows' ``load_seconds`` and the workers' RSS baseline.
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


RECOUNT = textwrap.dedent("""
    import json, sys, time
    import torch  # the prepare process has torch loaded already
    from resnext_bench.models.info import arch_info
    t0 = time.perf_counter()
    arch_info(sys.argv[1], None)
    print(json.dumps({"recount_s": time.perf_counter() - t0}))
""")


def recount(arch: str) -> float:
    """The prepare step's old complexity recount (the export had counted it already)."""
    out = subprocess.run([sys.executable, "-c", RECOUNT, arch], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["recount_s"]


def probe(arch: str, precision: str, artifacts: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, arch, precision, artifacts],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_once(src: str, artifacts: str, out: Path, arch: str) -> dict:
    import os
    import time

    env = dict(os.environ, PYTHONPATH=src)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "resnext_bench", "bench", "--arch", arch, "--runtime",
                    "ort-cpu", "--precision", "fp32", "--threads", "2", "--rounds", "3",
                    "--processes", "3", "--iters", "6", "--warmup", "2", "--parity-images", "4",
                    "--artifacts", artifacts, "--out", str(out), "--quiet", "--json"],
                   env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    row = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    return {"wall_s": round(wall, 2), "load_seconds": row["load_seconds"],
            "rss_baseline_mb": row.get("rss_baseline_mb"), "peak_rss_mb": row.get("peak_rss_mb")}


def compare_benches(old_src: str, artifacts: str, arch: str, repeats: int) -> dict:
    import tempfile

    new_src = str(Path(__file__).resolve().parents[1] / "src")
    out: dict = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):  # interleaved: the machine's drift hits both alike
            for side, src in (("old", old_src), ("new", new_src)):
                out[side].append(bench_once(src, artifacts, Path(tmp) / f"{side}-{i}", arch))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="resnext50_32x4d")
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="reports/cpu/artifact-reuse")
    ap.add_argument("--compare-src", default=None, help="src/ of the code before the change")
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
    recounts = [round(recount(args.arch), 3) for _ in range(args.repeats)]
    benches = compare_benches(args.compare_src, args.artifacts, args.arch, args.repeats) \
        if args.compare_src else None
    write_json_atomic(out / "artifact-reuse.json", {"arch": args.arch, "machine": machine,
                                                     "repeats": args.repeats, "results": results,
                                                     "prepare_recount_s": recounts,
                                                     "bench_old_vs_new": benches})
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
              "of it; the prepare process still verifies each file once per group.", "",
              f"The prepare step also counted params/MACs again (torch meta-device model and "
              f"FlopCounterMode) although the export had: {statistics.median(recounts):.2f} s per "
              f"configuration (runs {', '.join(f'{v:.2f}' for v in recounts)}); it now takes the "
              "export's count.", ""]
    if benches:
        med = {side: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
               for side, runs in benches.items()}
        lines += ["## A whole bench, old and new code interleaved", "",
                  f"`bench --arch {args.arch} --runtime ort-cpu --threads 2 --rounds 3 --processes 3 "
                  "--iters 6` (one configuration, three measuring workers), "
                  f"{args.repeats} runs each, medians:", "",
                  "| code | wall | row load_seconds | worker RSS baseline | peak RSS |",
                  "| --- | --- | --- | --- | --- |"]
        for side in ("old", "new"):
            m = med[side]
            lines.append(f"| {side} | {m['wall_s']:.1f} s (runs {', '.join(str(r['wall_s']) for r in benches[side])}) "
                         f"| {m['load_seconds']:.2f} s | {m['rss_baseline_mb']:.0f} MB | {m['peak_rss_mb']:.0f} MB |")
        explained = 3 * results["fp32"]["with_imports_median_s"] + statistics.median(recounts)
        lines += ["", f"Saved: {med['old']['wall_s'] - med['new']['wall_s']:.1f} s per configuration "
                  f"with three workers; three re-verifications with their imports and one recount "
                  f"(above) account for {explained:.1f} s of it. "
                  "The old worker's RSS baseline held the parsed 100 MB graph of its re-verification, "
                  "so its peak RSS was mostly not the runtime's; the new worker starts at its own "
                  "baseline. Its ONNX Runtime session creation (in `load_seconds`) now pays the page "
                  "faults of the memory it allocates, which the old worker took from the heap the "
                  "re-verification had just freed.", ""]
    write_text_atomic(out / "README.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
