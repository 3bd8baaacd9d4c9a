"""Record how much the measurements can be trusted on this machine (issue 9's benchmarks).

A benchmark command, not a test: it runs the CLI the way a user would and writes what it saw
(JSON, with every verdict) to ``--out``. On the project's shared 2-core CPU machine it takes
about 15 minutes.

1. Re-run stability: the same configuration (torch and ort-cpu, batch 1) benched three times
   back to back; ``compare`` run 1 vs 2 and 1 vs 3 should flag nothing; the torch / ort-cpu
   p50 ratio of each run, and its spread over the three (max / min).
2. A/B: a file against itself while a CPU-bound process starts halfway through (not flagged),
   and against the same network at 256 px instead of 224 px (1.31x the MACs: flagged).
3. Memory: resnet18 measured in one run after two bigger nets, against resnet18 alone.
4. Harness overhead: ``benchmarks/harness_overhead.py`` (harness vs a bare ORT loop).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def rb(*args, check=False) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "resnext_bench", *map(str, args)],
                         capture_output=True, text=True)
    if check and out.returncode != 0:
        raise SystemExit(f"resnext-bench {' '.join(map(str, args))} failed:\n{out.stderr[-2000:]}")
    return out


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines() if line]


def hog(seconds: float, start_after: float) -> threading.Thread:
    """A CPU-bound process started after ``start_after`` seconds, for ``seconds``."""
    def go():
        time.sleep(start_after)
        subprocess.run([sys.executable, "-c", f"import time\nt=time.time()\nwhile time.time()-t<{seconds}: pass"])
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="reports/cpu/measurement")
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--arch", default="resnext50_32x4d")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    art = args.artifacts
    record: dict = {}

    # 1. re-run stability ----------------------------------------------------------------------
    runs = []
    for i in range(1, 4):
        d = out / f"rerun{i}"
        t0 = time.time()
        rb("bench", "--arch", args.arch, "--runtime", "torch,ort-cpu", "--batch", 1, "--threads", 2,
           "--warmup", 5, "--iters", 30, "--rounds", 5, "--artifacts", art, "--out", d, "-q", check=True)
        by = {r["runtime"]: r for r in rows(d)}
        runs.append({"dir": str(d), "seconds": round(time.time() - t0, 1),
                     "p50_ms": {k: v["latency_p50_ms"] for k, v in by.items()},
                     "round_spread": {k: v["round_spread"] for k, v in by.items()},
                     "torch_over_ort": by["torch"]["latency_p50_ms"] / by["ort-cpu"]["latency_p50_ms"]})
        print(f"run {i}: {runs[-1]}", flush=True)
    ratios = [r["torch_over_ort"] for r in runs]
    compares = {}
    for j in (2, 3):
        res = rb("compare", out / "rerun1", out / f"rerun{j}", "--format", "json")
        data = json.loads(res.stdout)
        compares[f"1_vs_{j}"] = {"exit": res.returncode, "regressions": data["regressions"],
                                 "rows": [{k: r[k] for k in ("key", "verdict", "ratio", "noise")}
                                          for r in data["rows"]]}
        print(f"compare 1 vs {j}: exit {res.returncode}, {data['regressions']} regression(s)", flush=True)
    record["rerun"] = {"runs": runs, "compare": compares, "torch_over_ort": ratios,
                       "ratio_spread": max(ratios) / min(ratios) - 1}

    # 2. A/B -------------------------------------------------------------------------------------
    f224 = json.loads(rb("export", "--arch", "resnet50", "--out", art, "--json", check=True).stdout)["path"]
    f256 = json.loads(rb("export", "--arch", "resnet50", "--image-size", 256, "--out", art, "--json",
                         check=True).stdout)["path"]
    ab_common = ["--runtime", "ort-cpu", "--batch", 1, "--threads", 2, "--rounds", 10, "--iters", 100,
                 "--warmup", 5, "--parity-images", 8, "--artifacts", art, "--format", "json", "-q"]
    t0 = time.time()
    load = hog(seconds=40, start_after=15)
    same = rb("ab", f224, f224, *ab_common, "--out", out / "ab-same-hog")
    load.join()
    same_data = json.loads(same.stdout)
    record["ab_same_file_with_cpu_hog_halfway"] = {
        "exit": same.returncode, "verdict": same_data["verdict"], "ratio": same_data["ratio"],
        "ci": [same_data["ci_low"], same_data["ci_high"]], "seconds": round(time.time() - t0, 1),
        "base_round_medians_ms": same_data["base"]["round_medians_ms"],
        "new_round_medians_ms": same_data["new"]["round_medians_ms"]}
    print(f"ab same file + hog: {record['ab_same_file_with_cpu_hog_halfway']}", flush=True)
    slow = rb("ab", f224, f256, *ab_common, "--out", out / "ab-256px")
    slow_data = json.loads(slow.stdout)
    record["ab_224_vs_256px"] = {"exit": slow.returncode, "verdict": slow_data["verdict"],
                                 "ratio": slow_data["ratio"], "ci": [slow_data["ci_low"], slow_data["ci_high"]],
                                 "expected_ratio_from_macs": (256 / 224) ** 2}
    print(f"ab 224 vs 256 px: {record['ab_224_vs_256px']}", flush=True)

    # 3. memory ----------------------------------------------------------------------------------
    rb("bench", "--arch", "resnext50_32x4d,resnet50,resnet18", "--runtime", "ort-cpu", "--iters", 10,
       "--rounds", 2, "--warmup", 2, "--parity-images", 8, "--artifacts", art, "--out", out / "mem-sweep",
       "-q", check=True)
    rb("bench", "--arch", "resnet18", "--runtime", "ort-cpu", "--iters", 10, "--rounds", 2, "--warmup", 2,
       "--parity-images", 8, "--artifacts", art, "--out", out / "mem-alone", "-q", check=True)
    in_sweep = {r["arch"]: r["peak_rss_mb"] for r in rows(out / "mem-sweep")}
    alone = rows(out / "mem-alone")[0]["peak_rss_mb"]
    record["memory"] = {"peak_rss_mb_in_sweep": in_sweep, "resnet18_alone_mb": alone,
                        "resnet18_sweep_over_alone": in_sweep["resnet18"] / alone}
    print(f"memory: {record['memory']}", flush=True)

    # 4. harness overhead --------------------------------------------------------------------------
    ov = subprocess.run([sys.executable, str(HERE / "harness_overhead.py"), "--arch", args.arch,
                         "--artifacts", art], capture_output=True, text=True)
    record["harness_overhead"] = ov.stdout.strip().splitlines()[-3:]
    print("\n".join(record["harness_overhead"]), flush=True)

    env = json.loads((out / "rerun1" / "env.json").read_text())
    record["machine"] = {k: env.get(k) for k in ("cpu", "cpu_flags", "affinity_cpus", "packages",
                                                  "onnxruntime_packages")}
    (out / "summary.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
