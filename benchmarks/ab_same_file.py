"""How often does ``ab`` call a change for a file against itself, and why.

A benchmark command, not a test: ``ab`` of one ONNX file against itself, so every verdict other
than ``unchanged`` (or ``inconclusive``, which says it cannot tell) is a false one. Four
conditions, ``--repeats`` jobs each, interleaved so the machine's drift hits them alike:

* quiet, one process per side (``--processes 1``, ab's behaviour before it respawned workers);
* quiet, a fresh process per side each round (ab's default now);
* busy, default pool: one busy-loop process beside the job, ORT's default intra-op pool;
* busy, ``--threads 1``: the same busy loop, a pool that fits in the free CPU.

For each job it keeps the verdict, the ratio new/base, both sides' per-round medians and the
busy-host probe's reading. Writes ``ab-same-file.json`` and ``ab-same-file.md`` to ``--out``.
On the project's 2-core machine: about 8 minutes with the default settings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CONDITIONS = (("quiet, --processes 1", False, ("--processes", "1")),
              ("quiet, a process per round", False, ()),
              ("busy, default pool", True, ()),
              ("busy, --threads 1", True, ("--threads", "1")))


def rb(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "resnext_bench", *map(str, args)],
                          capture_output=True, text=True)


def one_job(onnx: str, busy: bool, extra: tuple, out: Path, artifacts: str, rounds: int) -> dict:
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        res = rb("ab", onnx, onnx, *extra, "--iters", 6 * rounds, "--rounds", rounds,
                 "--warmup", 3, "--parity-images", 2, "--artifacts", artifacts,
                 "--format", "json", "-q", "--out", out)
    finally:
        if hog:
            hog.kill()
            hog.wait()
    if res.returncode not in (0, 1):
        raise SystemExit(f"ab failed:\n{res.stderr[-2000:]}")
    data = json.loads(res.stdout)
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line]
    return {"verdict": data["verdict"], "ratio": data["ratio"], "notes": data["notes"],
            "processes": rows[0].get("processes"),
            "sides": {r["ab_side"]: {"round_medians_ms": r["round_medians_ms"],
                                     "host_load_cores": r.get("host_load_cores"),
                                     "host_load_round_cores": r.get("host_load_round_cores"),
                                     "threads_effective": r["runtime_info"].get("threads_effective")}
                      for r in rows}}


def med(side: dict) -> str:
    return ", ".join(f"{v:.1f}" for v in side["round_medians_ms"])


def load(side: dict) -> str:
    return "-" if side["host_load_cores"] is None else f"{side['host_load_cores']:.2f}"


def markdown(record: dict) -> str:
    out = [f"# `ab` of {record['arch']} ({record['image_size']} px) against itself",
           "", f"Machine: {record['cpu']}, {record['cpus']} CPUs. Each job: {record['rounds']} "
           f"rounds, threshold {record['threshold']:.0%}; ratio = median of per-round ratios "
           "new/base (1.00 = no difference, which is the truth here).", "",
           "| condition | jobs | false verdicts | inconclusive | worst ratio |", "|---|---|---|---|---|"]
    for name, jobs in record["conditions"].items():
        false = sum(j["verdict"] not in ("unchanged", "inconclusive") for j in jobs)
        inconclusive = sum(j["verdict"] == "inconclusive" for j in jobs)
        worst = max(max(j["ratio"], 1 / j["ratio"]) for j in jobs)
        out.append(f"| {name} | {len(jobs)} | {false} | {inconclusive} | {worst:.2f}x |")
    out += ["", "| condition | job | verdict | ratio | base round medians ms | new round medians ms "
            "| load base / new (CPUs) |", "|---|---|---|---|---|---|---|"]
    for name, jobs in record["conditions"].items():
        for i, j in enumerate(jobs, 1):
            b, n = j["sides"]["base"], j["sides"]["new"]
            out.append(f"| {name} | {i} | {j['verdict']} | {j['ratio']:.2f} | {med(b)} | {med(n)} | "
                       f"{load(b)} / {load(n)} |")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="reports/cpu/measurement")
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from resnext_bench.bench.env import capture_env
    from resnext_bench.bench.hostload import usable_cpus

    exported = rb("export", "--arch", args.arch, "--image-size", args.image_size,
                  "--out", args.artifacts, "--json")
    if exported.returncode:
        raise SystemExit(exported.stderr)
    onnx = json.loads(exported.stdout)["path"]
    env = capture_env()
    record = {"arch": args.arch, "image_size": args.image_size, "rounds": args.rounds,
              "threshold": 0.05,
              "cpu": env.get("cpu"), "cpus": usable_cpus(), "packages": env.get("packages"),
              "onnxruntime_packages": env.get("onnxruntime_packages"),
              "conditions": {name: [] for name, _, _ in CONDITIONS}}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for k, (name, busy, extra) in enumerate(CONDITIONS):
                job = one_job(onnx, busy, extra, Path(tmp) / f"{rep}-{k}", args.artifacts, args.rounds)
                record["conditions"][name].append(job)
                print(f"{name} #{rep + 1}: {job['verdict']} {job['ratio']:.2f}", file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ab-same-file.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / "ab-same-file.md").write_text(markdown(record))
    print(markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
