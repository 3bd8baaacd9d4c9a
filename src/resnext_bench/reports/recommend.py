"""``resnext-bench recommend``: which measured configuration to ship, as a deployment.

Candidates are ``ok`` rows whose parity passed, filtered by ``--arch`` / ``--form`` /
``--runtime`` and constrained by ``--max-latency-ms`` (on p99 by default: a deployment latency
budget is a tail budget), ``--min-throughput``, ``--batch``, ``--device``. A different network
is not a deployment setting of the same one: without ``--arch``, each arch gets its own
recommendation.

The objective ranks what is left (``latency``: lowest p50; ``throughput``: highest images/s).
Configurations whose difference from the best is within the measured noise (the larger
between-round spread of the two rows) are a **tie**, settled by the stated tie-break: fewer
threads, then smaller batch, then fewer runtime dependencies (:func:`dependency_rank`). The
winner comes as a deployment (:mod:`.deploy`): artifact with sha256, the export command, the
runtime settings as code, and what was measured. When nothing is left, the answer says how many
rows each constraint excluded.
"""

from __future__ import annotations

import math

from ..config import check_constraints
from ..core.errors import UsageError
from ..core.pareto import pareto_front
from ..core.rundir import RunData, latest
from ..core.schema import F, ResultRow
from .deploy import deployment



def dependency_rank(runtime: str) -> int:
    """What a deployment needs beside the model file, fewer is better in a tie (the runtime
    class's ``dependency_rank``; 9 for a runtime this version does not know)."""
    from ..config import RUNTIME_NAMES
    from ..runtimes.registry import get_runtime_class

    return get_runtime_class(runtime).dependency_rank if runtime in RUNTIME_NAMES else 9


TIE_BREAK = ("fewer threads, then smaller batch, then fewer runtime dependencies "
             "(ort-cpu < openvino, torch < ort-openvino, torch-compile; ort-cuda < ort-trt, tensorrt)")


def _noise(r: ResultRow) -> float:
    return r.round_spread if r.round_spread is not None and math.isfinite(r.round_spread) else 0.0


def _tie_key(r: ResultRow) -> tuple:
    return (r.threads if r.threads is not None else math.inf, r.batch,
            dependency_rank(r.runtime))


def rank(cands: list[ResultRow], objective: str) -> tuple[list[ResultRow], list[ResultRow]]:
    """(ranking, ties): ``ties`` are the candidates within noise of the best, tie-break applied;
    the ranking starts with them."""
    if objective == "throughput":
        ordered = sorted(cands, key=lambda r: -r.throughput_ips)
        metric = [r.throughput_ips for r in ordered]
    else:
        ordered = sorted(cands, key=lambda r: r.latency_p50_ms)
        metric = [r.latency_p50_ms for r in ordered]
    if not ordered:
        return [], []
    best = ordered[0]
    ties = [r for r, m in zip(ordered, metric)
            if abs(m - metric[0]) / metric[0] <= max(_noise(best), _noise(r))]
    ties = sorted(ties, key=_tie_key)
    return ties + [r for r in ordered if r not in ties], ties


def _summary(r: ResultRow) -> dict:
    return {k: getattr(r, k) for k in (F.config_key, F.arch, F.form, F.runtime, F.device, F.settings,
                                       F.precision, F.batch, F.threads, F.latency_p50_ms,
                                       F.latency_p99_ms, F.throughput_ips, F.round_spread,
                                       F.parity_max_rel_err, F.parity_top1_agreement)}


def _recommend_one(rows: list[ResultRow], checks, objective: str) -> dict:
    excluded: dict[str, int] = {}
    cands = []
    for r in rows:
        for name, ok in checks:
            if not ok(r):
                excluded[name] = excluded.get(name, 0) + 1
                break
        else:
            cands.append(r)
    ranking, ties = rank(cands, objective)
    return {"rows_considered": len(rows), "candidates": len(cands), "excluded": excluded,
            "ranking": [_summary(r) for r in ranking[:10]],
            "ties": [_summary(r) for r in ties] if len(ties) > 1 else [],
            "pareto_front": [_summary(r) for r in pareto_front(cands)],
            "winner": deployment(ranking[0]) if ranking else None}


def recommend(rows: list[ResultRow], *, arch=None, form=None, runtime=None, max_latency_ms=None,
              min_throughput=None, batch=None, device=None, objective="latency",
              latency_metric="p99", max_accuracy_drop=None, all_devices: bool = False) -> dict:
    check_constraints(max_latency_ms=max_latency_ms, min_throughput=min_throughput, batch=batch,
                      objective=objective, latency_metric=latency_metric,
                      max_accuracy_drop=max_accuracy_drop)
    rows = latest(rows)
    lat_field = getattr(F, f"latency_{latency_metric}_ms")
    checks = [
        (f"arch != {arch}", lambda r: arch is None or r.arch == arch),
        (f"form != {form}", lambda r: form is None or r.form == form),
        (f"runtime != {runtime}", lambda r: runtime is None or r.runtime == runtime),
        ("not measured (skipped/failed)", lambda r: r.ok and r.latency_p50_ms is not None),
        # a row under load has per-request latency with queueing and served throughput: not
        # ranked against one caller's rows (tune --concurrency answers for a load)
        ("measured under concurrent load (see the report's serving section)",
         lambda r: not r.load_mode),
        ("parity not passed", lambda r: r.parity_passed is True),
        (f"batch != {batch}", lambda r: batch is None or r.batch == batch),
        (f"device != {device}", lambda r: device is None or r.device == device),
        (f"{latency_metric} latency > {max_latency_ms} ms",
         lambda r: max_latency_ms is None or getattr(r, lat_field) <= max_latency_ms),
        (f"throughput < {min_throughput} img/s",
         lambda r: min_throughput is None or (r.throughput_ips or 0) >= min_throughput),
        ("no accuracy measured (needs a labeled --images folder)",
         lambda r: max_accuracy_drop is None or r.accuracy_top1_drop is not None),
        (f"top-1 accuracy drop > {max_accuracy_drop} points",
         lambda r: max_accuracy_drop is None or r.accuracy_top1_drop <= max_accuracy_drop),
    ]
    archs = [arch] if arch else sorted({r.arch for r in rows})
    # rows of different machines (an H100 and an A10, two CPU models) are never ranked together
    # unless asked: one recommendation per (arch, device model)
    models = sorted({r.device_model for r in rows if r.device_model})
    split = len(models) > 1 and not all_devices
    per_arch = []
    for a in archs:
        for model in (models if split else [None]):
            subset = [r for r in rows if (arch or r.arch == a) and (model is None or r.device_model == model)]
            per_arch.append({"arch": a, "device_model": model, **_recommend_one(subset, checks, objective)})
    winners = [p["winner"] for p in per_arch if p["winner"]]
    return {"objective": objective, "latency_metric": latency_metric, "tie_break": TIE_BREAK,
            "constraints": {"arch": arch, "form": form, "runtime": runtime,
                            "max_latency_ms": max_latency_ms, "min_throughput": min_throughput,
                            "batch": batch, "device": device,
                            "max_accuracy_drop": max_accuracy_drop},
            "recommendations": per_arch,
            "winner": winners[0] if len(per_arch) == 1 and winners else None,
            "found": bool(winners)}


def recommend_run(run: RunData, **kw) -> dict:
    return recommend(run.rows, **kw)


def _render_winner(rec: dict, objective: str) -> list[str]:
    w = rec["winner"]
    on = f" on {rec['device_model']}" if rec.get("device_model") else ""
    lines = [f"{rec['arch']}{on}: recommended ({objective} objective, {rec['candidates']} candidate(s)):",
             f"  {w['arch']} form {w['form']} on {w['runtime']} ({w['device']}), {w['precision']}, "
             f"batch {w['batch']}" + (f", threads {w['threads']}" if w.get("threads") else "")]
    m, p = w["measured"], w["parity"]
    spread = f", round spread {m['round_spread']:.1%}" if m["round_spread"] is not None else ""
    lines.append(f"  measured p50 {m['latency_p50_ms']:.2f} ms, p99 {m['latency_p99_ms']:.2f} ms, "
                 f"{m['throughput_ips']:.1f} img/s (n={m['samples']}, {m['rounds']} rounds{spread})"
                 + (f", peak RSS {m['peak_rss_mb']:.0f} MB" if m["peak_rss_mb"] else ""))
    lines.append(f"  parity max_rel_err {p['max_rel_err']:.2e}, top-1 agreement {p['top1_agreement']:.3f}"
                 + (f" on {p['weights']}" if p.get("weights") else ""))
    if w.get("precision_executed"):
        lines.append(f"  ran as {w['precision_executed']} (what the engine reported), judged with that tolerance")
    acc = w.get("accuracy")
    if acc:
        lo, hi = acc["top1_drop_ci"] or (float("nan"), float("nan"))
        lines.append(f"  top-1 accuracy {100 * acc['top1']:.2f} % on {acc['images']} labeled images "
                     f"(torch fp32 {100 * acc['reference_top1']:.2f} %; drop {acc['top1_drop_points']:+.2f} "
                     f"points, 95 % CI [{lo:+.2f}, {hi:+.2f}])")
    art = w["artifact"]
    if art is None:
        lines.append("  artifact: none (eager PyTorch: the code below builds the model)")
    elif art["exists"]:
        lines.append(f"  artifact: {art['path']} ({art['bytes']:,} bytes, sha256 {art['sha256']})")
    else:
        lines.append(f"  artifact: {art['path']} NO LONGER EXISTS (sha256 was {art['sha256']}); "
                     "re-create it with the command below")
    if w["export_command"]:
        lines.append(f"  re-create: {w['export_command']}")
    lines.append("  run it with:")
    lines += [f"    {line}" for line in w["runtime_code"].splitlines()]
    if w.get("note"):
        lines.append(f"  note: {w['note']}")
    if rec["ties"]:
        lines.append(f"  tie within the measured noise with {len(rec['ties']) - 1} other(s), settled by "
                     "the tie-break:")
        lines += [f"    {t['runtime']} {t['precision']} batch {t['batch']} threads {t['threads'] or '-'}: "
                  f"p50 {t['latency_p50_ms']:.2f} ms" for t in rec["ties"]]
    return lines


def render_text(res: dict) -> str:
    lines = []
    for rec in res["recommendations"]:
        if rec["winner"] is None:
            lines.append(f"{rec['arch']}: no configuration meets the constraints "
                         f"({rec['rows_considered']} rows considered):")
            lines += [f"  {n} row(s) excluded: {name}" for name, n in rec["excluded"].items()]
            continue
        lines += _render_winner(rec, res["objective"])
        if rec["excluded"]:
            lines.append("  excluded: " + ", ".join(f"{n} {name}" for name, n in rec["excluded"].items()))
        lines.append("  Pareto front (p50 latency vs throughput):")
        lines += [f"    {r['runtime']} {r['device']} {r['precision']} batch {r['batch']}: "
                  f"p50 {r['latency_p50_ms']:.2f} ms, {r['throughput_ips']:.1f} img/s"
                  for r in rec["pareto_front"]]
    lines.append(f"tie-break: {res['tie_break']}")
    return "\n".join(lines)
