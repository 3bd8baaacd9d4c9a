"""Does ``ab`` still gate on a shared runner? False alarms and misses under a load generator.

A benchmark command, not a test. Two ONNX files of resnet18 (the default weights): at 160 px
(base) and at 196 px (new: (196/160)^2 = 1.50x the work). Under a load generator holding one of
the two CPUs (a busy-loop process, as other jobs on a CI runner do), it runs, interleaved:

* ``identical``: ``ab small small`` -- anything but exit 0 is a false alarm;
* ``1.5x slower``: ``ab small big`` -- anything but exit 1 is a miss;

``--repeats`` times each, with ab's defaults (a fresh worker per side and round, the settle
window), and once each on the quiet machine first (the true ratio). Records per job the exit
code, verdict, ratio, interval, jobs pooled, host load and wall time; writes
``ab-contention.json`` and ``ab-contention.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rb(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "resnext_bench", *map(str, args)],
                          capture_output=True, text=True)


def export(size: int, artifacts: str) -> str:
    res = rb("export", "--arch", "resnet18", "--image-size", size, "--out", artifacts, "--json")
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    return json.loads(res.stdout)["path"]


def one_job(base: str, new: str, busy: bool, out: Path, args) -> dict:
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    t0 = time.monotonic()
    try:
        res = rb("ab", base, new, "--rounds", args.rounds, "--iters", 6 * args.rounds, "--warmup", 3,
                 "--parity-images", 2, "--artifacts", args.artifacts, "--format", "json", "-q",
                 "--out", out)
    finally:
        if hog:
            hog.kill()
            hog.wait()
    wall = time.monotonic() - t0
    if res.returncode not in (0, 1, 3):
        raise SystemExit(f"ab failed ({res.returncode}):\n{res.stderr[-2000:]}")
    data = json.loads(res.stdout)
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line]
    return {"exit": res.returncode, "verdict": data["verdict"], "ratio": data["ratio"],
            "ci": [data["ci_low"], data["ci_high"]], "notes": data["notes"],
            "jobs": max(r.get("ab_job", 1) for r in rows), "wall_s": round(wall, 1),
            "host_load_cores": [r.get("host_load_cores") for r in rows]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--out", default="reports/cpu/ab-contention")
    args = ap.parse_args()
    small, big = export(160, args.artifacts), export(196, args.artifacts)
    from resnext_bench.bench.env import capture_env

    work = Path(tempfile.mkdtemp(prefix="ab-contention-"))
    jobs: dict[str, list] = {"quiet identical": [], "quiet 1.5x slower": [],
                             "busy identical": [], "busy 1.5x slower": []}
    plan = [("quiet identical", small, small, False), ("quiet 1.5x slower", small, big, False)]
    for _ in range(args.repeats):
        plan += [("busy identical", small, small, True), ("busy 1.5x slower", small, big, True)]
    for i, (name, b, n, busy) in enumerate(plan):
        r = one_job(b, n, busy, work / f"job{i}", args)
        jobs[name].append(r)
        print(f"{name:18} exit {r['exit']} {r['verdict']:12} ratio {r['ratio']:.3f} "
              f"CI [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}] jobs {r['jobs']} load "
              f"{r['host_load_cores']} {r['wall_s']} s", flush=True)
    want = {"identical": 0, "1.5x slower": 1}
    summary = {}
    for name, rs in jobs.items():
        expected = want[name.split(" ", 1)[1]]
        summary[name] = {"runs": len(rs), "expected_exit": expected,
                         "as_expected": sum(r["exit"] == expected for r in rs),
                         "exits": [r["exit"] for r in rs], "verdicts": [r["verdict"] for r in rs],
                         "ratios": [round(r["ratio"], 3) for r in rs]}
    env = capture_env()
    record = {"machine": {k: env.get(k) for k in ("cpu", "cpu_flags", "cpu_count", "packages")},
              "platform": platform.platform(), "settings": vars(args),
              "files": {"base": small, "new": big}, "summary": summary, "jobs": jobs}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ab-contention.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    lines = [f"# ab under contention ({env.get('cpu')}, {env.get('cpu_count')} CPUs)", "",
             "A busy-loop process held one of the two CPUs during every `busy` job; `ab` ran "
             f"with its defaults, {args.rounds} rounds per job.", "",
             "| condition | runs | expected exit | as expected | exits | ratios |", "|---|---|---|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['runs']} | {s['expected_exit']} | {s['as_expected']}/{s['runs']} | "
                     f"{' '.join(map(str, s['exits']))} | {' '.join(f'{x:.2f}' for x in s['ratios'])} |")
    (out / "ab-contention.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
