"""``resnext-bench report``: markdown (CI job summary / PR comment), self-contained HTML
(plots embedded as data URIs, nothing fetched from the network), CSV and parquet."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from ..core.errors import UsageError
from ..core.fileio import write_output, write_output_text
from ..core.pareto import pareto_front
from ..core.rundir import RunData
from . import plots, sections
from .tables import config_label, flat_frame, markdown_table, sort_rows, table_notes, table_records

FORMATS = ("md", "html", "csv", "parquet")


_STATS_NOTE = ("n: timed samples; rounds: interleaved rounds the samples came in; round spread: "
               "(max - min) / median of the per-round medians -- how far the configuration moved "
               "between rounds of this run; CV: std / mean of all samples; img/s: batch (times "
               "the requests in flight) / mean latency -- under noise the mean is above the "
               "p50, so img/s is below batch / p50.")


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


def _timing_note(ok) -> str:
    gpu = any(r.device == "cuda" for r in ok)
    return ("Latency: CPU rows host-timed (perf_counter_ns)"
            + ("; GPU rows CUDA-event compute time (end-to-end time with copies in its own table)"
               if gpu else "") + ". FLOPs = 2 x MACs. Parity vs PyTorch fp32 eager on the CPU, "
            "whose own rows are marked 'reference'.")


def _counts(rows) -> str:
    ok = sum(r.ok for r in rows)
    return (f"{ok} measured, {sum(r.status == 'skipped' for r in rows)} skipped, "
            f"{sum(r.status == 'failed' for r in rows)} failed")


def _results_notes(ok) -> list[str]:
    return ([_STATS_NOTE] + table_notes(ok)
            + [f"Parity FAIL ({r.arch} {config_label(r)}, batch {r.batch}): "
               + "; ".join(r.parity_failed) + (f" -- weights: {r.parity_weights}" if r.parity_weights else "")
               for r in ok if r.parity_passed is False and r.parity_failed]
            + [f"Note ({', '.join(who)}): {note}" for note, who in _row_notes(ok).items()])


def _gpu_e2e(ok) -> sections.Section | None:
    gpu = [r for r in ok if r.e2e_latency_p50_ms is not None]
    if not gpu:
        return None
    return sections.Section(
        "GPU end-to-end (host arrays in/out, copies included)",
        ["arch", "runtime", "precision", "batch", "compute p50 ms", "end-to-end p50 ms"],
        [[r.arch, r.runtime, r.precision, str(r.batch), f"{r.latency_p50_ms:.3f}",
          f"{r.e2e_latency_p50_ms:.3f}"] for r in sort_rows(gpu)])


def report_sections(run: RunData) -> dict:
    """Everything a report shows, computed once for both renderings."""
    rows = run.latest()
    measured = [r for r in rows if r.ok and r.latency_p50_ms is not None]
    # a row under load has per-request latency and served throughput: its own section, not
    # beside one caller's rows in the headline, the answer and the studies
    ok = [r for r in measured if not r.load_mode]
    tune = _tune_result(run)
    return {"rows": rows, "ok": ok, "measured": measured, "tune": tune,
            "serving": sections.serving(measured, tune),
            "answer": sections.answer(ok, tune),
            "accuracy": sections.accuracy(ok), "headline": sections.headline(ok),
            "forms": sections.forms_study(ok), "paper": sections.paper(ok), "int8": sections.int8(ok),
            "layers": sections.layers(ok),
            "gpu": _gpu_e2e(ok), "env": sections.environment(run.env, rows),
            "not_measured": sections.not_measured(rows)}


def _tune_result(run: RunData) -> dict | None:
    """The run's tune answer (a ``tune`` run; in memory, else its ``tune.json``): its
    confirmed pick is the report's answer."""
    from ..core.fileio import loads_bounded

    if run.tune is not None:
        return run.tune

    try:
        data = loads_bounded((run.path / "tune.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _md_section(sec: sections.Section) -> list[str]:
    return [markdown_table(sec.heads, sec.body), ""] + [f"{n}  " for n in sec.notes] + [""]


def _details(summary: str, body: list[str]) -> list[str]:
    return ["<details>", f"<summary>{html.escape(summary)}</summary>", ""] + body + ["</details>", ""]


def markdown_report(run: RunData) -> str:
    """Works as a CI job summary or PR comment: the counts and a short headline table first,
    everything else in collapsed <details> blocks."""
    s = report_sections(run)
    rows, ok = s["rows"], s["ok"]
    env = run.env or {}
    where = f" on {env.get('cpu')}" + (f" + {env['gpu']}" if env.get("gpu") else "") if env else ""
    out = [f"# resnext-bench report: {run.name}", "",
           f"**{_counts(rows)}**{where}. {_timing_note(ok)}", ""]
    for key in ("answer", "serving", "accuracy"):  # what the deployer asked, before the detail
        if s[key]:
            out += [f"## {s[key].title}", ""] + _md_section(s[key])
    if s["headline"]:
        out += ["## Fastest per arch", ""]
    if s["headline"]:
        out += [markdown_table(s["headline"].heads, s["headline"].body), ""]
        out += [f"{n}  " for n in s["headline"].notes] + [""]
    elif not s["serving"]:
        out += ["_no measured rows_", ""]
    if ok:
        body = []
        for model, members in by_device_model(ok):
            if model is not None:
                body += [f"**Measured on {model}**", ""]
            heads, table = table_records(members)
            body += [markdown_table(heads, table), ""]
        body += [f"{n}  " for n in _results_notes(ok)] + [""]
        out += _details(f"All measured rows ({len(ok)})", body)
    for key in ("int8", "layers", "gpu", "forms", "paper"):
        if s[key]:
            out += _details(s[key].title, _md_section(s[key]))
    out += _details("Environment", _md_section(s["env"]))
    if s["not_measured"]:
        bad = len([r for r in rows if not r.ok])
        out += _details(f"Not measured ({bad} configuration{'s' if bad > 1 else ''})",
                        _md_section(s["not_measured"]))
    return "\n".join(out).rstrip() + "\n"


def _serving_chart(s: dict) -> str:
    """The latency-throughput curves, with a throughput tune's p99 limit and pick drawn."""
    tune = s["tune"] or {}
    limit = (tune.get("constraints") or {}).get("max_latency_ms") if tune.get("objective") == "throughput" else None
    pick = (tune.get("winner") or {}).get("config_key")
    return _img(plots.latency_throughput_curves(s["measured"], limit, pick),
                "latency vs throughput under load")


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return f"<p class='note'>{html.escape(alt)}: not enough data in this run for this chart.</p>"
    data = base64.b64encode(png).decode()
    return f"<figure><img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'></figure>"


def _html_table(heads, body, fail_marker: str | None = None, cls: str = "num") -> str:
    esc = html.escape
    out = f"<div class='scroll'><table class='{cls}'><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in heads) + "</tr></thead><tbody>"
    for row in body:
        cls = " class='fail'" if fail_marker and any(fail_marker in c for c in row) else ""
        out += f"<tr{cls}>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
    return out + "</tbody></table></div>"


def _html_section(sec: sections.Section | None, extra: str = "") -> str:
    if sec is None:
        return ""
    notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in sec.notes)
    return (f"<h2>{html.escape(sec.title)}</h2>" + _html_table(sec.heads, sec.body, "FAIL", "text")
            + notes + extra)


def html_report(run: RunData) -> str:
    s = report_sections(run)
    rows, ok = s["rows"], s["ok"]
    esc = html.escape
    table = ""
    for model, members in by_device_model(ok):
        heads, body = table_records(members)
        if model is not None:
            table += f"<h3>Measured on {esc(model)}</h3>"
        table += _html_table(heads, body, "FAIL")
    front = pareto_front([r for r in ok if r.parity_passed is not False])  # failing rows are no answer
    front_list = "".join(
        f"<li>{esc(r.arch)} {esc(r.runtime)} {esc(r.device)} {esc(r.precision)} batch {r.batch}: "
        f"p50 {r.latency_p50_ms:.2f} ms, {r.throughput_ips:.1f} img/s</li>" for r in front)
    css = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}"
           "table{border-collapse:collapse;font-size:12px;margin:.4em 0}td,th{border:1px solid #ccc;"
           "padding:3px 6px;text-align:right}td:first-child,th:first-child{text-align:left}"
           "table.num td{white-space:nowrap}table.text td,table.text th{text-align:left}"
           ".scroll{overflow-x:auto}"
           "th{background:#f0f0f0}tr.fail{background:#fdd}img{max-width:100%}"
           ".note{color:#666;font-size:12px;margin:.3em 0}.counts{font-size:15px}")
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>resnext-bench report: {esc(run.name)}</title><style>{css}</style></head><body>",
        f"<h1>resnext-bench report: {esc(run.name)}</h1>",
        f"<p class='counts'><b>{esc(_counts(rows))}</b>. {esc(_timing_note(ok))}</p>",
        _html_section(s["answer"]),
        _html_section(s["serving"], _serving_chart(s) if s["serving"] else ""),
        _html_section(s["accuracy"]),
        _html_section(s["headline"]),
        "<h2>Results</h2>", table or "<p>No measured rows.</p>",
        "".join(f"<p class='note'>{esc(n)}</p>" for n in _results_notes(ok)) if ok else "",
        "<h2>Latency distribution</h2>", _img(plots.latency_distribution(ok), "latency distribution"),
        _html_section(s["int8"]),
        _html_section(s["layers"], _img(plots.layer_profile(ok), "per-layer parity") if s["layers"] else ""),
        _html_section(s["gpu"]),
        _html_section(s["forms"]),
        _html_section(s["paper"], "<h3>Published error vs measured latency</h3>"
                      + _img(plots.error_vs_latency(ok), "published error vs measured latency")),
        "<h2>Latency per image vs batch</h2>", _img(plots.latency_vs_batch(ok), "latency vs batch"),
        "<h2>Throughput vs GMACs</h2>", _img(plots.throughput_vs_gmacs(ok), "throughput vs GMACs"),
        "<h2>Cardinality vs width</h2>", _img(plots.cardinality_study(ok), "cardinality study"),
        "<h2>Latency / throughput Pareto front</h2>", _img(plots.pareto_chart(ok), "Pareto chart"),
        f"<ul>{front_list}</ul>" if front_list else "",
        _html_section(s["env"]),
        _html_section(s["not_measured"]),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def write_report(run: RunData, fmt: str, out: str | Path | None) -> str | None:
    """Render ``fmt``; write to ``out`` if given, else return the text. ``out`` is written by
    :func:`~resnext_bench.core.fileio.write_output`: a regular file atomically, a symlink
    through to its target, a FIFO or ``/dev/stdout`` directly -- never replaced."""
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
    if out is not None and Path(out).is_dir():
        raise UsageError(f"--out {out} is a directory: give a file path (e.g. {Path(out) / ('report.' + fmt)})")
    if fmt in ("md", "html"):
        text = markdown_report(run) if fmt == "md" else html_report(run)
        if out is None:
            return text
        write_output_text(out, text)
        return None
    df = flat_frame(run.latest())
    if fmt == "csv":
        if out is None:
            return df.to_csv(index=False)
        write_output(out, lambda tmp: df.to_csv(tmp, index=False))
        return None
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise UsageError("--format parquet needs pyarrow: pip install 'resnext-bench[parquet]' "
                         "(or pyarrow)") from None
    if out is None:
        raise UsageError("--format parquet is binary: give --out PATH")
    write_output(out, lambda tmp: df.to_parquet(tmp, index=False))
    return None
