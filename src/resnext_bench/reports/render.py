"""``resnext-bench report``: markdown (CI job summary / PR comment), self-contained HTML
(plots embedded as data URIs, nothing fetched from the network), CSV and parquet."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from ..core.errors import UsageError
from ..core.fileio import atomic_path, write_text_atomic
from ..core.pareto import pareto_front
from ..core.rundir import RunData
from . import plots
from .tables import THIN_TAIL_NOTE, flat_frame, has_thin_tail, markdown_table, table_records

FORMATS = ("md", "html", "csv", "parquet")


def env_lines(env: dict) -> list[str]:
    if not env:
        return ["(no env.json)"]
    ort = ", ".join(f"{k} {v}" for k, v in (env.get("onnxruntime_packages") or {}).items()) or "none"
    pk = env.get("packages", {})
    lines = [
        f"machine: {env.get('cpu')} ({env.get('affinity_cpus') or env.get('cpu_count')} cpus, "
        f"ISA {' '.join(env.get('cpu_flags') or []) or 'not recorded'}, "
        f"{env.get('memory_gb')} GB)" + (f"; GPU {env['gpu']} (driver {env.get('driver', '?')}, "
                                          f"{env.get('gpu_capability', '')})" if env.get("gpu") else "; no GPU"),
        f"software: python {env.get('python')}, torch {pk.get('torch')} (CUDA {env.get('torch_cuda')}), "
        f"onnx {pk.get('onnx')}, onnxruntime: {ort}, tensorrt {env.get('tensorrt') or 'not installed'}",
        f"resnext-bench {env.get('resnext_bench_version')} commit {env.get('git_commit') or 'unknown'}, "
        f"measured {env.get('timestamp')} on {env.get('hostname')}",
    ]
    return lines


_STATS_NOTE = ("n: timed samples; rounds: interleaved rounds the samples came in; round spread: "
               "(max - min) / median of the per-round medians -- how far the configuration moved "
               "between rounds of this run; CV: std / mean of all samples.")


def by_device_model(rows) -> list[tuple[str | None, list]]:
    """[(None, rows)] when one device model (or none recorded) measured them all, else one
    (model, rows) per model: rows of different machines are not one table."""
    models = sorted({r.device_model for r in rows if r.device_model})
    if len(models) <= 1:
        return [(None, rows)]
    return [(m, [r for r in rows if r.device_model == m]) for m in models] + (
        [("unrecorded", [r for r in rows if not r.device_model])] if any(not r.device_model for r in rows) else [])


def _row_notes(rows) -> dict[str, list[str]]:
    """Each distinct row note once, with the configurations it applies to."""
    notes: dict[str, list[str]] = {}
    for r in rows:
        if r.note:
            notes.setdefault(r.note, []).append(f"{r.arch} {r.runtime} {r.precision} b{r.batch}")
    return notes


def _not_ok(rows):
    return [r for r in rows if not r.ok]


def markdown_report(run: RunData) -> str:
    rows = run.latest()
    ok = [r for r in rows if r.ok]
    out = [f"# resnext-bench report: {run.name}", ""]
    out += [f"- {line}" for line in env_lines(run.env)]
    out += ["", f"{len(ok)} measured, {sum(r.status == 'skipped' for r in rows)} skipped, "
                f"{sum(r.status == 'failed' for r in rows)} failed. "
                "Latency: CPU rows host-timed (perf_counter_ns); GPU rows CUDA-event compute time. "
                "FLOPs = 2 x MACs. Parity vs PyTorch fp32 eager.", ""]
    for model, members in by_device_model(ok):
        if model is not None:
            out += ["", f"## Measured on {model}", ""]
        heads, body = table_records(members)
        out.append(markdown_table(heads, body))
    if not ok:
        out.append("_no measured rows_")
    out += ["", _STATS_NOTE] + ([THIN_TAIL_NOTE] if has_thin_tail(ok) else [])
    out += [f"Note ({', '.join(who)}): {note}" for note, who in _row_notes(ok).items()]
    gpu = [r for r in ok if r.e2e_latency_p50_ms is not None]
    if gpu:
        out += ["", "GPU end-to-end (host arrays in/out, copies included):", ""]
        out.append(markdown_table(
            ["arch", "runtime", "precision", "batch", "compute p50 ms", "end-to-end p50 ms"],
            [[r.arch, r.runtime, r.precision, str(r.batch), f"{r.latency_p50_ms:.3f}",
              f"{r.e2e_latency_p50_ms:.3f}"] for r in gpu]))
    bad = _not_ok(rows)
    if bad:
        out += ["", "Not measured:", ""]
        out += [f"- `{r.config_key}`: {r.status}: {r.error}" for r in bad]
    return "\n".join(out) + "\n"


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return f"<p class='note'>{html.escape(alt)}: not enough data in this run for this chart.</p>"
    data = base64.b64encode(png).decode()
    return f"<figure><img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'></figure>"


def html_report(run: RunData) -> str:
    rows = run.latest()
    env = run.env
    ok = [r for r in rows if r.ok and r.latency_p50_ms is not None]
    esc = html.escape
    table = ""
    for model, members in by_device_model(ok):
        heads, body = table_records(members)
        if model is not None:
            table += f"<h3>Measured on {esc(model)}</h3>"
        table += "<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in heads) + "</tr></thead><tbody>"
        for row in body:
            cls = " class='fail'" if "FAIL" in row else ""
            table += f"<tr{cls}>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
        table += "</tbody></table>"
    front = pareto_front(ok)
    front_list = "".join(
        f"<li>{esc(r.arch)} {esc(r.runtime)} {esc(r.device)} {esc(r.precision)} batch {r.batch}: "
        f"p50 {r.latency_p50_ms:.2f} ms, {r.throughput_ips:.1f} img/s</li>" for r in front)
    bad = "".join(f"<li><code>{esc(r.config_key)}</code>: {esc(r.status)}: {esc(str(r.error))}</li>"
                  for r in _not_ok(rows))
    css = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}"
           "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;"
           "text-align:right}th{background:#f0f0f0}tr.fail{background:#fdd}img{max-width:100%}"
           ".env{font-family:monospace;font-size:12px;background:#f7f7f7;padding:.6em}.note{color:#777}")
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>resnext-bench report: {esc(run.name)}</title><style>{css}</style></head><body>",
        f"<h1>resnext-bench report: {esc(run.name)}</h1>",
        "<div class='env'>" + "<br>".join(esc(line) for line in env_lines(env)) + "</div>",
        "<p>Latency: CPU rows are host-timed (perf_counter_ns); GPU rows are CUDA-event compute time "
        "(end-to-end time with copies is in the CSV/JSON). FLOPs = 2 x MACs. Parity is against PyTorch "
        "fp32 eager on the same weights.</p>",
        "<h2>Results</h2>", table,
        f"<p class='note'>{esc(_STATS_NOTE)}"
        + (f"<br>{esc(THIN_TAIL_NOTE)}" if has_thin_tail(ok) else "")
        + "".join(f"<br>Note ({esc(', '.join(who))}): {esc(note)}" for note, who in _row_notes(ok).items())
        + "</p>",
        "<h2>Latency vs batch</h2>", _img(plots.latency_vs_batch(ok), "latency vs batch"),
        "<h2>Throughput vs GMACs</h2>", _img(plots.throughput_vs_gmacs(ok), "throughput vs GMACs"),
        "<h2>Cardinality vs width</h2>", _img(plots.cardinality_study(ok), "cardinality study"),
        "<h2>Latency / throughput Pareto front</h2>", _img(plots.pareto_chart(ok), "Pareto chart"),
        f"<ul>{front_list}</ul>" if front_list else "",
        f"<h2>Not measured</h2><ul>{bad}</ul>" if bad else "",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(run: RunData, fmt: str, out: str | Path | None) -> str | None:
    """Render ``fmt``; write to ``out`` if given (atomically), else return the text."""
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
    if fmt in ("md", "html"):
        text = markdown_report(run) if fmt == "md" else html_report(run)
        if out is None:
            return text
        write_text_atomic(out, text)
        return None
    df = flat_frame(run.latest())
    if fmt == "csv":
        if out is None:
            return df.to_csv(index=False)
        with atomic_path(out) as tmp:
            df.to_csv(tmp, index=False)
        return None
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise UsageError("--format parquet needs pyarrow: pip install pyarrow") from None
    if out is None:
        raise UsageError("--format parquet is binary: give --out PATH")
    with atomic_path(out) as tmp:
        df.to_parquet(tmp, index=False)
    return None
