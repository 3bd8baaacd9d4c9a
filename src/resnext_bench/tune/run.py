"""``resnext-bench tune``: candidates from the machine, the staged search, the answer, the bundle.

Every stage's rows go to the run dir like any run's (each with ``tune_stage``), so ``report``,
``compare`` and ``recommend`` read a tune; the search's record and the answer are written to
``RUN_DIR/tune.json`` and the packaged answer to ``RUN_DIR/bundle/``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

from ..config import RunConfig
from ..core.errors import UsageError
from ..core.fileio import write_json_atomic
from ..core.pareto import pareto_front
from ..core.rundir import RESULTS, load_run, run_dir_lock
from ..core.schema import ResultRow
from ..core.verdict import ratio_ci
from .candidates import CandidateSet, candidates
from .search import SearchResult, metric, search


def check_tune_args(objective, budget_minutes, batch, max_latency_ms, min_throughput,
                    max_accuracy_drop) -> None:
    """The constraints as ``recommend`` checks them, plus the budget and ``--batch auto``."""
    from ..reports.recommend import check_constraints

    check_constraints(max_latency_ms=max_latency_ms, min_throughput=min_throughput,
                      objective=objective, max_accuracy_drop=max_accuracy_drop)
    if not (isinstance(budget_minutes, (int, float)) and math.isfinite(budget_minutes)
            and budget_minutes > 0):
        raise UsageError(f"--budget-minutes {budget_minutes}: must be a finite number > 0")
    if batch not in (None, "auto"):
        try:
            if int(batch) < 1:
                raise ValueError
        except ValueError:
            raise UsageError(f"--batch {batch!r}: must be 'auto' or an integer >= 1") from None


def _measure_fn(base: RunConfig, out_dir: Path, on_event):
    """measure(combos, timing) for the search: a Runner over the run dir, rows appended."""
    from ..bench.runner import Runner

    stage = {"n": 0}

    def measure(combos, timing: dict) -> list[ResultRow]:
        cfg = base.replace(rounds=timing["rounds"], min_time=timing["min_time"],
                           iters=timing["iters"], warmup=timing["warmup"])
        runner = Runner(cfg, out_dir, extra={"tune_stage": stage["n"]})
        if stage["n"] == 0:
            runner.write_env()
        stage["n"] += 1
        return runner.run(combos, on_event=on_event)

    return measure


def _speedup(winner: ResultRow, base: ResultRow | None, objective: str) -> dict | None:
    """Winner against the default configuration, both from the winner's last stage."""
    if base is None or not base.ok or not winner.round_medians_ms or not base.round_medians_ms:
        return None
    per_w = 1 if objective == "latency" else winner.batch * (winner.requests_per_call or 1)
    per_b = 1 if objective == "latency" else base.batch * (base.requests_per_call or 1)
    ratio, low, high = ratio_ci([m / per_w for m in winner.round_medians_ms],
                                [m / per_b for m in base.round_medians_ms])
    from ..core.verdict import contention

    busy = [f"{side}: {why}" for side, row in (("the default", base), ("the pick", winner))
            if (why := contention(row))]
    return {"times_faster": ratio, "ci": [low, high], "busy_host": busy,
            "same_stage": winner.extra.get("tune_stage") == base.extra.get("tune_stage"),
            "default": f"{base.runtime} {base.precision}, batch {base.batch}, default threads",
            "default_p50_ms": base.latency_p50_ms, "default_throughput_ips": base.throughput_ips,
            "default_parity_passed": base.parity_passed}


def _row_summary(r: ResultRow) -> dict:
    return {"config_key": r.config_key, "runtime": r.runtime, "precision": r.precision,
            "batch": r.batch, "threads": r.threads, "settings": r.settings,
            "latency_p50_ms": r.latency_p50_ms, "latency_p99_ms": r.latency_p99_ms,
            "throughput_ips": r.throughput_ips, "rounds": r.rounds,
            "round_spread": r.round_spread, "tune_stage": r.extra.get("tune_stage")}


def answer(res: SearchResult, cs: CandidateSet, objective: str, constraints: dict) -> dict:
    """The tune's answer as data: the deployment, the ratio to the default, ties, the front,
    and every candidate's fate with its reason."""
    from ..reports.deploy import deployment

    rows = {k: s.row for k, s in res.standings.items() if s.row is not None}
    winner = rows.get(res.winner) if res.winner else None
    base = rows.get(res.baseline) if res.baseline else None
    passing = [r for r in rows.values() if r.ok and r.parity_passed and r.latency_p50_ms
               and r.throughput_ips and res.standings[r.config_key].status != "out"]
    out = {
        "objective": objective, "constraints": constraints, "found": winner is not None,
        "stopped": res.stopped, "seconds": round(res.seconds, 1),
        "candidates": len(cs.candidates), "excluded_before_measuring": [
            {"what": w, "why": why} for w, why in cs.excluded],
        "precisions_worth_trying": cs.precisions, "cpus": cs.cpus,
        "stages": [{"index": s.index, "members": s.members, "seconds": round(s.seconds, 1),
                    "timing": s.timing, "beaten": s.beaten, "out": s.out} for s in res.stages],
        "standings": [{"config_key": k, "status": s.status, "reason": s.reason,
                       "stage": s.stage, "ratio_to_best": s.ratio, "ci": s.ci,
                       "baseline": k == res.baseline}
                      for k, s in sorted(res.standings.items(),
                                         key=lambda kv: metric(kv[1].row, objective) if kv[1].row else math.inf)],
        "ties": [_row_summary(rows[k]) for k in res.ties],
        "tie_break": res.tie_break if res.ties else None,
        "pareto_front": [_row_summary(r) for r in pareto_front(passing)],
        "winner": deployment(winner) if winner else None,
        "vs_default": _speedup(winner, base, objective) if winner else None,
    }
    return out


def _check_screen_fits(config: RunConfig, combos, budget_minutes: float) -> None:
    """Refuse a budget the screening stage alone would overrun, judged from this machine's
    measured times (configurations never measured here are not guessed)."""
    from ..bench.estimate import estimate
    from .search import SCREEN

    screen = config.replace(**{k: SCREEN[k] for k in ("rounds", "min_time", "iters", "warmup")})
    known = [e.seconds for e in estimate(screen, combos) if e.seconds is not None]
    need = sum(known)
    if need > budget_minutes * 60:
        raise UsageError(f"--budget-minutes {budget_minutes:g}: screening the {len(combos)} "
                         f"candidates alone takes ~{need / 60:.1f} min here (this machine's "
                         "measured times); raise the budget or narrow --runtime")


def run_tune(arch: str, out_dir: str | Path, *, objective: str = "latency",
             budget_minutes: float = 10.0, batch=None, max_latency_ms=None, min_throughput=None,
             max_accuracy_drop=None, runtimes: list[str] | None = None,
             settings: Mapping[str, Any] | None = None, dry_run: bool = False,
             on_event=None, on_stage=None, measure=None, clock=None) -> dict:
    """Search and answer (see the module doc); ``measure`` / ``clock`` replace the runner and
    the wall clock (tests). ``settings``: run settings for every candidate (parity images,
    weights, artifacts dir...)."""
    import time

    check_tune_args(objective, budget_minutes, batch, max_latency_ms, min_throughput,
                    max_accuracy_drop)
    cs = candidates(arch, objective=objective, batch=batch, runtimes=runtimes,
                    image_size=(settings or {}).get("image_sizes"))
    if dry_run:
        return {"dry_run": True, "candidate_set": cs}
    if not cs.candidates:
        raise UsageError(f"no candidate configuration for {arch} here: "
                         + "; ".join(f"{w}: {why}" for w, why in cs.excluded))
    with run_dir_lock(out_dir):  # one writer, for every stage (the lock is re-entrant)
        return _tune_locked(arch, Path(out_dir), cs, objective, budget_minutes, batch,
                            max_latency_ms, min_throughput, max_accuracy_drop, settings,
                            on_event, on_stage, measure, clock or time.monotonic)


def _tune_locked(arch, out_dir, cs, objective, budget_minutes, batch, max_latency_ms,
                 min_throughput, max_accuracy_drop, settings, on_event, on_stage, measure,
                 clock) -> dict:
    if (out_dir / RESULTS).exists():
        raise UsageError(f"{out_dir} already holds results: tune into a new --out")
    values = {k: v for k, v in (settings or {}).items() if v is not None}
    values.update(archs=arch, runtimes=sorted({c.combo.runtime for c in cs.candidates}))
    base = RunConfig.from_values(values)
    by_key = {c.combo.key: c.combo for c in cs.candidates}
    if measure is None:
        _check_screen_fits(base, list(by_key.values()), budget_minutes)
    baseline = next((c.combo.key for c in cs.candidates if c.baseline), None)
    res = search(by_key, measure or _measure_fn(base, out_dir, on_event), objective=objective,
                 budget_s=budget_minutes * 60, baseline=baseline, clock=clock,
                 max_latency_ms=max_latency_ms, min_throughput=min_throughput,
                 max_accuracy_drop=max_accuracy_drop, on_stage=on_stage)
    constraints = {"max_latency_ms": max_latency_ms, "min_throughput": min_throughput,
                   "max_accuracy_drop": max_accuracy_drop, "batch": batch,
                   "budget_minutes": budget_minutes}
    result = answer(res, cs, objective, constraints)
    if measure is None:
        write_json_atomic(out_dir / "tune.json", result)
        if res.winner:
            from ..reports.render import markdown_report
            from .bundle import write_bundle

            winner = res.standings[res.winner].row
            metrics = {"winner": result["winner"]["measured"], "parity": result["winner"]["parity"],
                       "vs_default": result["vs_default"], "objective": objective,
                       "constraints": constraints, "stopped": res.stopped,
                       "ties": result["ties"], "tie_break": result["tie_break"]}
            report_md = markdown_report(load_run(out_dir))
            result["bundle"] = str(write_bundle(out_dir / "bundle", winner, metrics, report_md))
            write_json_atomic(out_dir / "tune.json", result)
    return result


def render_answer(result: dict) -> str:
    """The answer in a few lines: the pick, how much better than the default, ties, the front."""
    lines = []
    w = result.get("winner")
    n_out = sum(s["status"] == "out" for s in result["standings"])
    n_beaten = sum(s["status"] == "beaten" for s in result["standings"])
    lines.append(f"tune ({result['objective']} objective): {result['candidates']} candidate(s), "
                 f"{len(result['stages'])} stage(s) in {result['seconds']:.0f} s; {n_beaten} "
                 f"beaten beyond the noise, {n_out} out; stopped: {result['stopped']}")
    if not w:
        lines.append("no candidate meets the constraints:")
        lines += [f"  {s['config_key']}: {s['reason']}" for s in result["standings"] if s["reason"]]
        return "\n".join(lines)
    m = w["measured"]
    settings = ", ".join(f"{k}={v}" for k, v in (w.get("settings") or {}).items())
    lines.append(f"deploy: {w['arch']} on {w['runtime']} ({w['device']}), {w['precision']}, batch "
                 f"{w['batch']}, threads {w['threads'] if w['threads'] is not None else 'default'}"
                 + (f", {settings}" if settings else ""))
    lines.append(f"  measured p50 {m['latency_p50_ms']:.2f} ms, p99 {m['latency_p99_ms']:.2f} ms, "
                 f"{m['throughput_ips']:.1f} img/s ({m['rounds']} rounds, spread "
                 f"{(m['round_spread'] or 0):.1%})")
    p = w["parity"]
    lines.append(f"  parity pass: max_rel_err {p['max_rel_err']:.2e}, top-1 agreement "
                 f"{p['top1_agreement']:.3f} on {p['weights']}")
    v = result.get("vs_default")
    if v:
        latency = result["objective"] == "latency"
        if v["times_faster"] >= 1:
            how = f"{v['times_faster']:.2f}x {'faster' if latency else 'more throughput'}"
        else:  # the pick measured worse than the default: said so, not as "0.80x faster"
            how = f"{1 / v['times_faster']:.2f}x {'slower' if latency else 'less throughput'}"
        sure = ("" if v["ci"][0] > 1 else
                "; the default measured better beyond the noise in this stage: keep the default"
                if v["ci"][1] < 1 else "; not distinguishable from the default within the "
                "measured noise")
        lines.append(f"  {how} than the default configuration "
                     f"({v['default']}: p50 {v['default_p50_ms']:.2f} ms) under the constraints "
                     f"(ratio of round medians, 95% CI [{v['ci'][0]:.2f}, {v['ci'][1]:.2f}]{sure})"
                     + ("" if v["same_stage"] else " (measured in different stages)"))
        for note in v.get("busy_host") or []:
            lines.append(f"  WARNING: {note.split(' (re-run')[0]} -- this ratio may be biased")
    if w.get("artifact"):
        a = w["artifact"]
        lines.append(f"  artifact: {a['path']} (sha256 {str(a['sha256'])[:16]}...)")
    lines.append(f"  re-create: {w['export_command']}")
    if result["ties"]:
        lines.append(f"  a tie within the measured noise between {len(result['ties'])} candidates, "
                     f"settled by the tie-break ({result['tie_break']}):")
        lines += [f"    {t['config_key']}: p50 {t['latency_p50_ms']:.2f} ms" for t in result["ties"]]
    front = result["pareto_front"]
    if front:
        lines.append("  Pareto front (p50 latency vs throughput, parity passing):")
        lines += [f"    {r['config_key']}: p50 {r['latency_p50_ms']:.2f} ms, "
                  f"{r['throughput_ips']:.1f} img/s" for r in front[:6]]
    if result.get("bundle"):
        lines.append(f"  bundle: {result['bundle']} (python {result['bundle']}/run.py)")
    return "\n".join(lines)
