"""``resnext-bench recommend``: which measured config to ship under constraints.

Candidates are ``ok`` rows whose parity passed. Constraints: ``--max-latency-ms`` (on p99 by
default: a deployment latency budget is a tail budget; ``--latency-metric p50`` to change),
``--min-throughput``, ``--batch``, ``--device``. The objective ranks what is left: ``latency``
(lowest p50) or ``throughput`` (highest images/s). The latency/throughput Pareto front of the
candidates is shown beside the winner. When nothing is left, the answer says how many rows each
constraint excluded.
"""

from __future__ import annotations

from ..core.errors import UsageError
from ..core.pareto import pareto_front
from ..core.rundir import RunData, latest
from ..core.schema import F, ResultRow

LATENCY_METRICS = ("p50", "p90", "p95", "p99")
OBJECTIVES = ("latency", "throughput")
#: runtime_info keys that are deployment settings (what to reproduce), not measurements
DEPLOY_SETTINGS = ("providers", "graph_optimization_level", "cudnn_conv_algo_search",
                   "trt_options", "channels_last", "cuda_graph", "tf32", "threads_effective",
                   "workspace_mb", "builder_opt_level", "profile_min_opt_max")


def check_constraints(*, max_latency_ms=None, min_throughput=None, batch=None, device=None,
                      objective="latency", latency_metric="p99") -> None:
    """Constraints that no row could meet are input errors (exit 2), not "nothing fits" (1)."""
    if max_latency_ms is not None and not max_latency_ms > 0:
        raise UsageError(f"--max-latency-ms {max_latency_ms}: must be > 0")
    if min_throughput is not None and min_throughput < 0:
        raise UsageError(f"--min-throughput {min_throughput}: must be >= 0")
    if batch is not None and batch < 1:
        raise UsageError(f"--batch {batch}: must be >= 1")
    if objective not in OBJECTIVES:
        raise UsageError(f"--objective {objective!r}: must be one of {', '.join(OBJECTIVES)}")
    if latency_metric not in LATENCY_METRICS:
        raise UsageError(f"--latency-metric {latency_metric!r}: must be one of {', '.join(LATENCY_METRICS)}")


def recommend(rows: list[ResultRow], *, max_latency_ms=None, min_throughput=None, batch=None,
              device=None, objective="latency", latency_metric="p99") -> dict:
    check_constraints(max_latency_ms=max_latency_ms, min_throughput=min_throughput, batch=batch,
                      device=device, objective=objective, latency_metric=latency_metric)
    rows = latest(rows)
    lat_field = getattr(F, f"latency_{latency_metric}_ms")
    excluded: dict[str, int] = {}
    cands = []
    checks = [
        ("not measured (skipped/failed)", lambda r: r.ok and r.latency_p50_ms is not None),
        ("parity not passed", lambda r: r.parity_passed is True),
        (f"batch != {batch}", lambda r: batch is None or r.batch == batch),
        (f"device != {device}", lambda r: device is None or r.device == device),
        (f"{latency_metric} latency > {max_latency_ms} ms",
         lambda r: max_latency_ms is None or getattr(r, lat_field) <= max_latency_ms),
        (f"throughput < {min_throughput} img/s",
         lambda r: min_throughput is None or (r.throughput_ips or 0) >= min_throughput),
    ]
    for r in rows:
        for name, ok in checks:
            if not ok(r):
                excluded[name] = excluded.get(name, 0) + 1
                break
        else:
            cands.append(r)
    if objective == "throughput":
        ranked = sorted(cands, key=lambda r: -r.throughput_ips)
    else:
        ranked = sorted(cands, key=lambda r: r.latency_p50_ms)
    return {"objective": objective, "latency_metric": latency_metric,
            "constraints": {"max_latency_ms": max_latency_ms, "min_throughput": min_throughput,
                            "batch": batch, "device": device},
            "rows_considered": len(rows), "candidates": len(cands), "excluded": excluded,
            "ranking": [_summary(r) for r in ranked[:10]],
            "pareto_front": [_summary(r) for r in pareto_front(cands)],
            "winner": deployment_config(ranked[0]) if ranked else None}


_SUMMARY_FIELDS = (F.config_key, F.arch, F.runtime, F.device, F.precision, F.batch, F.threads,
                   F.latency_p50_ms, F.latency_p99_ms, F.throughput_ips, F.parity_max_rel_err,
                   F.parity_top1_agreement)


def _summary(r: ResultRow) -> dict:
    return {k: getattr(r, k) for k in _SUMMARY_FIELDS}


def deployment_config(r: ResultRow) -> dict:
    options = {k: v for k, v in r.runtime_info.items() if k in DEPLOY_SETTINGS}
    return {
        "arch": r.arch, "form": r.form, "cardinality": r.cardinality, "width": r.width,
        "runtime": r.runtime, "device": r.device, "precision": r.precision, "batch": r.batch,
        "threads": r.threads, "image_size": r.image_size, "runtime_options": options,
        "artifact": r.runtime_info.get("engine_path") or r.onnx_path
        or "(torch eager: build with resnext_bench.models.build_model)",
        "expected": {"latency_p50_ms": r.latency_p50_ms, "latency_p99_ms": r.latency_p99_ms,
                     "throughput_ips": r.throughput_ips},
        "parity": {"max_rel_err": r.parity_max_rel_err, "top1_agreement": r.parity_top1_agreement},
        "measured": {"run_id": r.run_id, "timestamp": r.timestamp},
    }


def recommend_run(run: RunData, **kw) -> dict:
    return recommend(run.rows, **kw)


def render_text(res: dict) -> str:
    lines = []
    if res["winner"] is None:
        lines.append(f"no configuration meets the constraints ({res['rows_considered']} rows considered):")
        for name, n in res["excluded"].items():
            lines.append(f"  {n} row(s) excluded: {name}")
        return "\n".join(lines)
    w = res["winner"]
    lines.append(f"recommended ({res['objective']} objective, {res['candidates']} candidate(s)):")
    lines.append(f"  {w['arch']} on {w['runtime']} ({w['device']}), {w['precision']}, batch {w['batch']}"
                 + (f", threads {w['threads']}" if w.get("threads") else ""))
    e = w["expected"]
    lines.append(f"  expected p50 {e['latency_p50_ms']:.2f} ms, p99 {e['latency_p99_ms']:.2f} ms, "
                 f"{e['throughput_ips']:.1f} img/s; parity max_rel_err {w['parity']['max_rel_err']:.2e}, "
                 f"top-1 agreement {w['parity']['top1_agreement']:.3f}")
    lines.append(f"  artifact: {w['artifact']}")
    if w["runtime_options"]:
        lines.append(f"  runtime options: {w['runtime_options']}")
    if res["excluded"]:
        lines.append("  excluded: " + ", ".join(f"{n} {name}" for name, n in res["excluded"].items()))
    lines.append("Pareto front (p50 latency vs throughput):")
    for r in res["pareto_front"]:
        lines.append(f"  {r['arch']} {r['runtime']} {r['device']} {r['precision']} batch {r['batch']}: "
                     f"p50 {r['latency_p50_ms']:.2f} ms, {r['throughput_ips']:.1f} img/s")
    return "\n".join(lines)
