"""Does `tune` decide on a busy host? The same tune quiet and beside 1 and 2 busy loops.

1. ``resnext-bench tune --arch A --budget-minutes M`` on the quiet machine, then with 1, then
   with 2 busy-loop processes (``while True: pass``) beside it -- the issue's shared 2-core
   machine, where other jobs held 1.2-1.4 of the 2 CPUs. Each tune is timed from outside
   (the wall time against the budget).
2. Each busy pick against the quiet pick, measured *paired* on the quiet machine (the tune's
   own confirmation: interleaved rounds, a fresh worker per side and round,
   ``interleaved_verdict``): the same pick, or one within 10 % of it.
3. Per tune: its confirmation's verdict against the default with the interval, the number of
   candidates beaten, tied and not separated, and whether the deployed pick is the
   confirmation's.

Writes ``OUT/summary.json`` and ``OUT/summary.md`` (with the machine).

    python benchmarks/tune_busy.py --arch resnext50_32x4d --budget-minutes 5 --out reports/cpu/tune-busy
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def run_tune(exe: str, arch: str, budget: float, artifacts: str, out: Path, loops: int) -> dict:
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(loops)]
    try:
        time.sleep(2 if loops else 0)
        t0 = time.monotonic()
        proc = subprocess.run([exe, "tune", "--arch", arch, "--objective", "latency",
                               "--budget-minutes", str(budget), "--artifacts", artifacts,
                               "--out", str(out)], capture_output=True, text=True)
        wall = time.monotonic() - t0
    finally:
        for b in busy:
            b.kill()
            b.wait()
    (out.parent / f"{out.name}-stdout.txt").write_text(proc.stdout)
    (out.parent / f"{out.name}-stderr.txt").write_text(proc.stderr)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"tune with {loops} busy loop(s) failed ({proc.returncode}): "
                         f"{proc.stderr[-1500:]}")
    answer = json.loads((out / "tune.json").read_text())
    standings = answer["standings"]
    vs = answer.get("vs_default") or {}
    return {
        "busy_loops": loops, "budget_s": budget * 60, "wall_s": round(wall, 1),
        "within_budget_x1_1": wall <= budget * 60 * 1.1,
        "plan": answer.get("plan"), "stopped": answer["stopped"],
        "stages": [{k: s[k] for k in ("index", "kind", "members", "seconds", "load_cores")}
                   for s in answer["stages"]],
        "pick": answer["winner"]["config_key"] if answer.get("winner") else None,
        "searched_pick": answer.get("searched_pick"),
        "pick_rejected": answer.get("pick_rejected"),
        "pick_p50_ms": (answer.get("winner") or {}).get("measured", {}).get("latency_p50_ms"),
        "vs_default": {k: vs.get(k) for k in ("verdict", "ratio", "ci", "rounds", "load_cores")},
        "beaten": sum(s["status"] == "beaten" for s in standings),
        "tied": len(answer["ties"]), "not_separated": len(answer.get("not_separated") or []),
        "out": sum(s["status"] == "out" for s in standings),
    }


def paired(arch: str, artifacts: str, a: str, b: str, out: Path, loops: int = 0) -> dict:
    """Configuration ``b`` against ``a``, as the tune's confirmation measures them, with
    ``loops`` busy loops beside them."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(loops)]
    try:
        time.sleep(2 if loops else 0)
        return dict(_paired(arch, artifacts, a, b, out), busy_loops_during=loops)
    finally:
        for p in busy:
            p.kill()
            p.wait()


def _paired(arch: str, artifacts: str, a: str, b: str, out: Path) -> dict:
    from resnext_bench.config import RunConfig
    from resnext_bench.core.schema import Combo
    from resnext_bench.tune.confirm import confirm
    from resnext_bench.tune.run import TUNE_PARITY_IMAGES, _measure_fn

    def combo(key: str) -> Combo:
        arch_, form, runtime, device, precision, batch, threads, size, *rest = key.split("|")
        settings = {}
        for kv in rest:
            k, v = kv.split("=", 1)
            settings[k] = {"true": True, "false": False}.get(v, v)
        return Combo(arch_, form, runtime, device, precision, int(batch),
                     int(threads) if threads else None, int(size), settings)

    base = RunConfig.from_values({"archs": arch, "artifacts": artifacts,
                                  "images": TUNE_PARITY_IMAGES,
                                  "runtimes": sorted({combo(a).runtime, combo(b).runtime})})
    res = confirm(_measure_fn(base, out, None), combo(b), combo(a), "latency", 600, 1.0)
    return {"base": a, "other": b, "times_faster": res["ratio"], "ci": res["ci"],
            "verdict": res["verdict"], "rounds": res["rounds"],
            "within_10pct": res["ratio"] is not None and res["ratio"] >= 1 / 1.10}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnext50_32x4d")
    ap.add_argument("--budget-minutes", type=float, default=5.0)
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--loops", default="0,1,2")
    ap.add_argument("--out", required=True)
    ap.add_argument("--reuse", action="store_true",
                    help="Take the tunes from OUT/summary.json; measure the paired checks only.")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    exe = str(Path(sys.executable).with_name("resnext-bench"))
    from resnext_bench.bench.env import capture_env

    env = capture_env()
    tunes = json.loads((out / "summary.json").read_text())["tunes"] if args.reuse else []
    for loops in [] if args.reuse else [int(x) for x in args.loops.split(",")]:
        print(f"tune with {loops} busy loop(s) ...", file=sys.stderr, flush=True)
        tunes.append(run_tune(exe, args.arch, args.budget_minutes, args.artifacts,
                              out / f"tune-{loops}-busy", loops))
        print(json.dumps(tunes[-1], default=str), file=sys.stderr, flush=True)
    quiet = next((t for t in tunes if t["busy_loops"] == 0), None)
    checks = []
    if quiet and quiet["pick"]:
        for t in tunes:
            if t is quiet or not t["pick"]:
                continue
            if t["pick"] == quiet["pick"]:
                checks.append({"busy_loops": t["busy_loops"], "same_pick": True})
                continue
            # on the quiet machine, and under the load the busy pick was chosen under: where
            # the best configuration depends on the load, both say so
            for during in (0, t["busy_loops"]):
                print(f"paired ({during} busy loops): {t['pick']} against {quiet['pick']} ...",
                      file=sys.stderr, flush=True)
                check = paired(args.arch, args.artifacts, quiet["pick"], t["pick"],
                               out / f"paired-{t['busy_loops']}-during-{during}", during)
                checks.append({"busy_loops": t["busy_loops"], "same_pick": False} | check)
    summary = {"arch": args.arch, "budget_minutes": args.budget_minutes,
               "machine": {k: env.get(k) for k in ("cpu", "cpu_flags", "hostname", "affinity_cpus",
                                                    "python", "packages", "git_commit")},
               "tunes": tunes, "busy_picks_against_the_quiet_pick": checks}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    lines = [f"# tune on a busy host: {args.arch}, {args.budget_minutes:g}-minute budget", "",
             f"Machine: {env.get('cpu')} ({env.get('affinity_cpus')} CPUs usable). Busy loops: "
             "`python -c 'while True: pass'` beside the tune.", "",
             "| busy loops | wall s (budget) | stages | beaten | tied | not separated | pick | "
             "vs default (paired confirmation) |", "|---|---|---|---|---|---|---|---|"]
    for t in tunes:
        vs = t["vs_default"]
        ci = vs.get("ci") or [None, None]
        verdict = (f"{vs['verdict']} {vs['ratio']:.2f}x, 95% CI [{ci[0]:.2f}, {ci[1]:.2f}], "
                   f"{vs['rounds']} rounds, load {vs.get('load_cores')}" if vs.get("ratio") and ci[0]
                   else str(vs.get("verdict")))
        if t["pick_rejected"]:
            verdict += f"; search's pick {t['searched_pick']} rejected ({t['pick_rejected']['verdict']})"
        stages = ", ".join(f"{s['kind']} {s['members']} ({s['seconds']:.0f} s, load {s['load_cores']})"
                           for s in t["stages"])
        lines.append(f"| {t['busy_loops']} | {t['wall_s']:.0f} ({t['budget_s']:.0f}) | {stages} | "
                     f"{t['beaten']} | {t['tied']} | {t['not_separated']} | `{t['pick']}` "
                     f"(p50 {t['pick_p50_ms']:.2f} ms) | {verdict} |")
    lines += ["", "Busy picks against the quiet pick (paired: the tune's own confirmation, "
              "interleaved rounds with a fresh worker per side and round), on the quiet machine "
              "and under the load the busy pick was chosen under:", ""]
    for c in checks:
        if c["same_pick"]:
            lines.append(f"- {c['busy_loops']} busy loop(s): the same pick")
        else:
            lines.append(f"- the pick with {c['busy_loops']} busy loop(s), `{c['other']}`, measured "
                         f"with {c['busy_loops_during']} busy loop(s) beside it: {c['times_faster']:.3f}x "
                         f"the quiet pick's speed (95% CI [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}], "
                         f"{c['rounds']} rounds, {c['verdict']}); within 10 %: {c['within_10pct']}")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
