"""``resnext-bench recommend``: which measured config to ship under constraints.

Candidates are ``ok`` rows whose parity passed. Constraints: ``--max-latency-ms`` (on p99 by
default: a deployment latency budget is a tail budget; ``--latency-metric p50`` to change),
``--min-throughput``, ``--batch``, ``--device``. The objective ranks what is left: ``latency``
(lowest p50) or ``throughput`` (highest images/s). The latency/throughput Pareto front of the
candidates is shown beside the winner. When nothing is left, the answer says how many rows each
constraint excluded.
"""

from __future__ import annotations

from .load import latest, load_rows
from .plots import pareto_front


def recommend(rows: list[dict], *, max_latency_ms=None, min_throughput=None, batch=None,
              device=None, objective="latency", latency_metric="p99") -> dict:
    rows = latest(rows)
    lat_key = f"latency_{latency_metric}_ms"
    excluded: dict[str, int] = {}
    cands = []
    checks = [
        ("not measured (skipped/failed)", lambda r: r.get("status") == "ok" and r.get("latency_p50_ms") is not None),
        ("parity not passed", lambda r: r.get("parity_passed") is True),
        (f"batch != {batch}", lambda r: batch is None or r.get("batch") == batch),
        (f"device != {device}", lambda r: device is None or r.get("device") == device),
        (f"{latency_metric} latency > {max_latency_ms} ms",
         lambda r: max_latency_ms is None or r[lat_key] <= max_latency_ms),
        (f"throughput < {min_throughput} img/s",
         lambda r: min_throughput is None or (r.get("throughput_ips") or 0) >= min_throughput),
    ]
    for r in rows:
        for name, ok in checks:
            if not ok(r):
                excluded[name] = excluded.get(name, 0) + 1
                break
        else:
            cands.append(r)
    if objective == "throughput":
        ranked = sorted(cands, key=lambda r: -r["throughput_ips"])
    else:
        ranked = sorted(cands, key=lambda r: r["latency_p50_ms"])
    result = {"objective": objective, "latency_metric": latency_metric,
              "constraints": {"max_latency_ms": max_latency_ms, "min_throughput": min_throughput,
                              "batch": batch, "device": device},
              "rows_considered": len(rows), "candidates": len(cands), "excluded": excluded,
              "ranking": [_summary(r) for r in ranked[:10]],
              "pareto_front": [_summary(r) for r in pareto_front(cands)] if cands else [],
              "winner": deployment_config(ranked[0]) if ranked else None}
    return result


def _summary(r: dict) -> dict:
    return {k: r.get(k) for k in ("config_key", "arch", "runtime", "device", "precision", "batch",
                                  "threads", "latency_p50_ms", "latency_p99_ms", "throughput_ips",
                                  "parity_max_rel_err", "parity_top1_agreement")}


def deployment_config(r: dict) -> dict:
    info = r.get("runtime_info") or {}
    options = {k: v for k, v in info.items() if k in (
        "providers", "graph_optimization_level", "cudnn_conv_algo_search", "trt_options",
        "channels_last", "cuda_graph", "tf32", "threads_effective", "workspace_mb",
        "builder_optimization_level", "profile_min_opt_max")}
    return {
        "arch": r["arch"], "form": r.get("form"), "cardinality": r.get("cardinality"),
        "width": r.get("width"), "runtime": r["runtime"], "device": r["device"],
        "precision": r["precision"], "batch": r["batch"], "threads": r.get("threads"),
        "image_size": r.get("image_size"), "runtime_options": options,
        "artifact": info.get("engine_path") or r.get("onnx_path") or "(torch eager: build with resnext_bench.models.build_model)",
        "expected": {"latency_p50_ms": r.get("latency_p50_ms"), "latency_p99_ms": r.get("latency_p99_ms"),
                     "throughput_ips": r.get("throughput_ips")},
        "parity": {"max_rel_err": r.get("parity_max_rel_err"), "top1_agreement": r.get("parity_top1_agreement")},
        "measured": {"run_id": r.get("run_id"), "timestamp": r.get("timestamp")},
    }


def recommend_run(run_dir, **kw) -> dict:
    return recommend(load_rows(run_dir), **kw)


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
