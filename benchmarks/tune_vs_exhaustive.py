"""Is `tune`'s pick the configuration an exhaustive sweep would pick? One job, both measured.

1. ``resnext-bench tune --arch A --objective latency --budget-minutes M --out OUT/tune``
   (the real CLI, timed from outside: does it finish in the budget?).
2. The same candidates (``tune.candidates`` on this machine: the same set the tune searched),
   every one measured at full length (``--rounds 5 --iters 40 --warmup 5``), interleaved in
   groups like any sweep, parity on the built-in photos as tune judges it, into
   ``OUT/exhaustive``.
3. The tune's pick as measured by the exhaustive run, against the fastest parity-passing
   configuration of the exhaustive run: the pick must be within 10 % (``pick / fastest <= 1.10``).
4. The bundle's ``run.py`` run in a fresh process (it loads the artifact and runs it).

Writes ``OUT/summary.json`` and ``OUT/summary.md``.

    python benchmarks/tune_vs_exhaustive.py --arch resnext50_32x4d --out reports/cpu/tune
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnext50_32x4d")
    ap.add_argument("--budget-minutes", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    exe = str(Path(sys.executable).with_name("resnext-bench"))

    t0 = time.monotonic()
    tune = subprocess.run([exe, "tune", "--arch", args.arch, "--objective", "latency",
                           "--budget-minutes", str(args.budget_minutes), "--artifacts",
                           args.artifacts, "--out", str(out / "tune")],
                          capture_output=True, text=True)
    tune_s = time.monotonic() - t0
    (out / "tune-stdout.txt").write_text(tune.stdout)
    (out / "tune-stderr.txt").write_text(tune.stderr)
    if tune.returncode not in (0, 1):
        print(tune.stderr[-2000:], file=sys.stderr)
        return 2
    answer = json.loads((out / "tune" / "tune.json").read_text())

    from resnext_bench.bench.runner import Runner
    from resnext_bench.config import RunConfig
    from resnext_bench.core.rundir import latest, load_run
    from resnext_bench.tune.candidates import candidates

    cs = candidates(args.arch, objective="latency")
    searched = {s["config_key"] for s in answer["standings"]}
    combos = [c.combo for c in cs.candidates]
    same_set = {c.key for c in combos} == searched
    # parity on the built-in photos, as tune judges it (int8 is calibrated on other crops of them)
    config = RunConfig.from_values({"archs": args.arch, "runtimes": sorted({c.runtime for c in combos}),
                                    "rounds": args.rounds, "iters": args.iters, "warmup": 5,
                                    "images": "builtin", "artifacts": args.artifacts})
    t1 = time.monotonic()
    runner = Runner(config, out / "exhaustive")
    runner.write_env()
    runner.run(combos)
    exhaustive_s = time.monotonic() - t1
    rows = latest(load_run(out / "exhaustive").rows)
    passing = sorted((r for r in rows if r.ok and r.parity_passed and r.latency_p50_ms),
                     key=lambda r: r.latency_p50_ms)
    by_key = {r.config_key: r for r in rows}
    pick = answer["winner"]["config_key"] if answer.get("winner") else None
    fastest = passing[0] if passing else None
    pick_row = by_key.get(pick)
    ratio = (pick_row.latency_p50_ms / fastest.latency_p50_ms
             if pick_row and fastest and pick_row.latency_p50_ms else None)

    bundle = out / "tune" / "bundle" / "run.py"
    snippet = subprocess.run([sys.executable, str(bundle)], capture_output=True, text=True,
                             cwd=str(Path.cwd())) if bundle.exists() else None

    summary = {
        "arch": args.arch, "budget_minutes": args.budget_minutes,
        "tune_seconds": round(tune_s, 1), "tune_exit": tune.returncode,
        "within_budget": tune_s <= args.budget_minutes * 60,
        "tune_stopped": answer.get("stopped"), "tune_stages": len(answer.get("stages", [])),
        "candidates": len(combos), "same_candidate_set": same_set,
        "tune_pick": pick, "tune_pick_p50_in_tune_ms": (answer.get("winner") or {}).get("measured", {}).get("latency_p50_ms"),
        "tune_vs_default": answer.get("vs_default"),
        "exhaustive_seconds": round(exhaustive_s, 1),
        "exhaustive_fastest": fastest.config_key if fastest else None,
        "exhaustive_fastest_p50_ms": fastest.latency_p50_ms if fastest else None,
        "exhaustive_pick_p50_ms": pick_row.latency_p50_ms if pick_row else None,
        "pick_over_fastest": ratio, "within_10_percent": ratio is not None and ratio <= 1.10,
        "exhaustive_top5": [(r.config_key, round(r.latency_p50_ms, 3), r.round_spread) for r in passing[:5]],
        "bundle_run_exit": snippet.returncode if snippet else None,
        "bundle_run_output": (snippet.stdout.strip() or snippet.stderr.strip()[-400:]) if snippet else None,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    lines = [f"# tune vs exhaustive sweep: {args.arch}, latency objective", "",
             f"- tune: {tune_s:.0f} s for a {args.budget_minutes:g} min budget "
             f"({'within' if summary['within_budget'] else 'OVER'} it), {summary['tune_stages']} "
             f"stage(s), stopped: {summary['tune_stopped']}",
             f"- candidates: {len(combos)} (the set tune searched: {same_set})",
             f"- tune's pick: `{pick}` (p50 {summary['tune_pick_p50_in_tune_ms']} ms in the tune)",
             f"- exhaustive ({args.rounds} rounds x {args.iters} iters each, {exhaustive_s:.0f} s): "
             f"fastest parity-passing `{summary['exhaustive_fastest']}` p50 "
             f"{summary['exhaustive_fastest_p50_ms']} ms; the pick there p50 "
             f"{summary['exhaustive_pick_p50_ms']} ms",
             f"- pick / fastest = {ratio:.3f}" if ratio else "- pick / fastest: n/a",
             f"  ({'within' if summary['within_10_percent'] else 'NOT within'} 10 %)",
             f"- bundle run.py: exit {summary['bundle_run_exit']}: {summary['bundle_run_output']}",
             f"- tune's confirmation against the default: {json.dumps({k: v for k, v in (summary['tune_vs_default'] or {}).items() if k in ('ratio', 'ci', 'verdict', 'paired', 'rounds')})}",
             "", "Exhaustive top 5 (parity passing, p50 ms, round spread):", ""]
    lines += [f"- `{k}`: {p} ms (spread {s:.1%})" if s is not None else f"- `{k}`: {p} ms"
              for k, p, s in summary["exhaustive_top5"]]
    lines += ["", "Tune's answer:", "", "```text", tune.stdout.strip(), "```", ""]
    (out / "summary.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
