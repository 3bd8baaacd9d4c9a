"""`compare` against the machine's drift between runs: false verdicts and a caught slowdown.

    python benchmarks/compare_drift.py --out reports/cpu/compare-drift [--runs 10] [--slow-runs 3] [--drift-runs 2]

1. exports resnext50_32x4d (fp32) and a *slowed* copy of the file: the same network plus a
   convolution on the input whose result is multiplied by zero and added to the logits (same
   outputs, same config key, at least 15 % more time: ``--slow-channels`` sizes it; the record
   states the slowdown measured);
2. ``bench --onnx FILE --runtime ort-cpu --batch 1 --threads 2 --no-parity`` back to back,
   ``--runs`` times on the file and ``--slow-runs`` times on the slowed file, each run timing
   the control workload in every round (the default); then ``--drift-runs`` more runs of the
   unchanged file beside a neighbour (a process spinning ``--neighbour-duty`` of each 20 ms on
   one CPU): the machine slower for a whole run, the issue's drift made on purpose;
3. ``compare`` of every pair of the unchanged runs (45 for 10 runs), of every (unchanged,
   slowed) pair and of every (unchanged, drifted) pair, four ways: the control and this
   machine's history (the default), the control alone, the history alone, and neither (the
   rows' control dropped: the old rule). The history is what a user's would hold before the
   change: the unchanged runs this benchmark made (from the artifacts dir's
   ``measured-times.jsonl``).

Writes ``record.json`` (every run's p50, the control's, every verdict) and ``summary.md``. The
goal: 0 false regressions and 0 false improvements among the unchanged and the drifted pairs
with the control, and every slowed pair a regression.
"""

from __future__ import annotations

import argparse
import itertools
from collections import Counter
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def slowed_copy(src: Path, dst: Path, channels: int) -> None:
    """``src`` plus a zero-weighted convolution of the input added to the logits."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(src))
    g = m.graph
    x, y = g.input[0].name, g.output[0].name
    rng = np.random.default_rng(0)
    g.initializer.extend([
        numpy_helper.from_array(rng.standard_normal((channels, 3, 7, 7)).astype(np.float32), "slow_w"),
        numpy_helper.from_array(np.zeros((1,), np.float32), "slow_zero")])
    for n in g.node:  # the original logits get another name; the sum takes the output's
        for i, o in enumerate(n.output):
            if o == y:
                n.output[i] = "logits_before_slow"
    g.node.extend([
        helper.make_node("Conv", [x, "slow_w"], ["slow_c"], pads=[3, 3, 3, 3]),
        helper.make_node("ReduceMean", ["slow_c"], ["slow_m"], keepdims=0),
        helper.make_node("Mul", ["slow_m", "slow_zero"], ["slow_0"]),
        helper.make_node("Add", ["logits_before_slow", "slow_0"], [y]),
    ])
    onnx.save(m, str(dst))


NEIGHBOUR = """
import time, sys
duty = float(sys.argv[1])
while True:
    end = time.perf_counter() + 0.02 * duty
    while time.perf_counter() < end:
        pass
    time.sleep(0.02 * (1 - duty))
"""


def bench(onnx_path, out, artifacts, rounds, iters):
    cmd = [sys.executable, "-m", "resnext_bench", "bench", "--onnx", str(onnx_path), "--runtime", "ort-cpu",
           "--batch", "1", "--threads", "2", "--no-parity", "--rounds", str(rounds), "--iters", str(iters),
           "--warmup", "10", "--artifacts", str(artifacts), "--out", str(out), "-q"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode not in (0, 1):
        raise SystemExit(f"bench failed: {res.stderr[-500:]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--slow-runs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--slow-channels", type=int, default=112)
    ap.add_argument("--drift-runs", type=int, default=2)
    ap.add_argument("--neighbour-duty", type=float, default=0.5)
    ap.add_argument("--rejudge", action="store_true", help="judge the runs already in OUT/runs again")
    args = ap.parse_args()
    from resnext_bench.core.rundir import load_run
    from resnext_bench.core.verdict import Outcome
    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx
    from resnext_bench.bench.history import history_entry
    from resnext_bench.reports.compare import compare_rows

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = out / "runs"
    fp32 = export_onnx(ExportConfig(arch="resnext50_32x4d"), args.artifacts).path
    slow = Path(args.artifacts) / "resnext50_32x4d_slowed.onnx"
    slowed_copy(fp32, slow, args.slow_channels)
    t0 = time.perf_counter()
    plan = ([("same", i, fp32) for i in range(args.runs)] + [("slow", i, slow) for i in range(args.slow_runs)]
            + [("drift", i, fp32) for i in range(args.drift_runs)])
    for kind, i, path in ([] if args.rejudge else plan):
        neighbour = (subprocess.Popen([sys.executable, "-c", NEIGHBOUR, str(args.neighbour_duty)])
                     if kind == "drift" else None)
        try:
            bench(path, work / f"{kind}{i}", args.artifacts, args.rounds, args.iters)
        finally:
            if neighbour is not None:
                neighbour.kill()
                neighbour.wait()
        print(kind, i, flush=True)
    runs = {f"{k}{i}": load_run(work / f"{k}{i}") for k, i, _ in plan}
    rows = {name: [r for r in run.rows if r.ok][0] for name, run in runs.items()}
    # the configuration's history as a user's would hold it before the change: its unchanged runs
    history = [history_entry(rows[f"same{i}"]) for i in range(args.runs)]

    def strip(r):
        return replace(r, control_rounds_ms=None, control_version=None, control_threads=None)

    ways = {"control+history": (False, history), "control": (False, []),
            "history": (True, history), "neither": (True, [])}

    def judge(a, b):
        out = {}
        for way, (drop, hist) in ways.items():
            ra, rb = (strip(rows[a]), strip(rows[b])) if drop else (rows[a], rows[b])
            [c] = compare_rows([ra], [rb], 0.05, history=hist)
            out[way] = {"verdict": c.verdict.value, "ratio": c.ratio, "ci": [c.ci_low, c.ci_high],
                        "note": (c.notes or [""])[0]}
        return out

    same = [f"same{i}" for i in range(args.runs)]
    slows = [f"slow{i}" for i in range(args.slow_runs)]
    pairs_same = {f"{a}->{b}": judge(a, b) for a, b in itertools.combinations(same, 2)}
    pairs_slow = {f"{a}->{b}": judge(a, b) for a in same for b in slows}
    drifts = [f"drift{i}" for i in range(args.drift_runs)]
    pairs_drift = {f"{a}->{b}": judge(a, b) for a in same for b in drifts}
    p50 = lambda names: float(np.median([rows[n].latency_p50_ms for n in names]))  # noqa: E731

    def count(pairs, verdict):
        return {w: sum(p[w]["verdict"] == verdict for p in pairs.values()) for w in ways}

    record = {
        "machine": _machine(),
        "config": "resnext50_32x4d ort-cpu fp32 batch 1 threads 2, "
                  f"{args.rounds} rounds x {args.iters} iters, control in every round",
        "slowed_file": f"+ zero-weighted 7x7 conv 3->{args.slow_channels} on the input",
        "slowdown_measured": p50(slows) / p50(same) if slows else None,
        "neighbour": f"one process spinning {args.neighbour_duty:.0%} of each 20 ms",
        "drift_measured": p50(drifts) / p50(same) if drifts else None,
        "runs": {n: {"p50_ms": rows[n].latency_p50_ms, "round_medians_ms": rows[n].round_medians_ms,
                     "control_rounds_ms": rows[n].control_rounds_ms, "control_threads": rows[n].control_threads,
                     "host_load_cores": rows[n].host_load_cores} for n in rows},
        "unchanged_pairs": len(pairs_same), "slowed_pairs": len(pairs_slow),
        "false_regressions": count(pairs_same, Outcome.REGRESSION.value),
        "false_improvements": count(pairs_same, Outcome.IMPROVEMENT.value),
        "unchanged_inconclusive": count(pairs_same, Outcome.INCONCLUSIVE.value),
        "slowdown_caught": count(pairs_slow, Outcome.REGRESSION.value),
        "drifted_pairs": len(pairs_drift),
        "drift_false_regressions": count(pairs_drift, Outcome.REGRESSION.value),
        "drift_false_improvements": count(pairs_drift, Outcome.IMPROVEMENT.value),
        "drift_verdicts": {w: dict(sorted(Counter(p[w]["verdict"] for p in pairs_drift.values()).items()))
                           for w in ways},
        "pairs": {"unchanged": pairs_same, "slowed": pairs_slow, "drifted": pairs_drift},
        "seconds": (json.loads((out / "record.json").read_text())["seconds"] if args.rejudge
                    else round(time.perf_counter() - t0, 1))}
    (out / "record.json").write_text(json.dumps(record, indent=1, default=str))
    (out / "summary.md").write_text(summary(record))
    print(summary(record))


def summary(rec) -> str:
    p50 = {n: r["p50_ms"] for n, r in rec["runs"].items()}
    ctrl = {n: float(np.median(r["control_rounds_ms"])) if r["control_rounds_ms"] else None
            for n, r in rec["runs"].items()}
    lines = [f"# compare against the machine's drift: {rec['config']}", "",
             f"Machine: {rec['machine']['cpu']}. Slowed file: {rec['slowed_file']}, measured "
             f"{rec.get('slowdown_measured') or 0:.3f}x the unchanged runs' median p50. Drifted runs: "
             f"{rec.get('neighbour')}, measured {rec.get('drift_measured') or 0:.3f}x. {rec['seconds']} s.", "",
             "| run | p50 ms | control median ms | p50 / control |", "|---|---|---|---|"]
    for n in p50:
        c = ctrl[n]
        lines.append(f"| {n} | {p50[n]:.2f} | {c:.4f} | {p50[n] / c:.1f} |" if c else f"| {n} | {p50[n]:.2f} | - | - |")
    lines += ["", f"{rec['unchanged_pairs']} pairs of unchanged runs, {rec['slowed_pairs']} (unchanged, slowed) pairs:", "",
              f"and {rec.get('drifted_pairs', 0)} (unchanged, drifted) pairs:", "",
              "| judged with | false regressions | false improvements | inconclusive (unchanged pairs) "
              "| slowdown caught | drifted pairs: false regressions / improvements |",
              "|---|---|---|---|---|---|"]
    for w in rec["false_regressions"]:
        drift = (f"{rec['drift_false_regressions'][w]} / {rec['drift_false_improvements'][w]} of "
                 f"{rec['drifted_pairs']} ("
                 + ", ".join(f"{k} {v}" for k, v in rec.get("drift_verdicts", {}).get(w, {}).items()) + ")"
                 if rec.get("drifted_pairs") else "-")
        lines.append(f"| {w} | {rec['false_regressions'][w]} | {rec['false_improvements'][w]} | "
                     f"{rec['unchanged_inconclusive'][w]} | {rec['slowdown_caught'][w]} of {rec['slowed_pairs']} | {drift} |")
    return "\n".join(lines) + "\n"


def _machine() -> dict:
    from resnext_bench.bench.env import capture_env

    env = capture_env()
    return {k: env.get(k) for k in ("cpu", "cpu_count", "hostname", "python", "packages")}


if __name__ == "__main__":
    main()
