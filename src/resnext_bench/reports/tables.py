"""The report table (one row per measured combination) and its markdown / CSV renderings.

Columns name schema fields through :data:`~resnext_bench.core.schema.F`, so a misspelt field
fails at import instead of printing an empty column.
"""

from __future__ import annotations

import math
import re

from ..core.schema import F, ResultRow, settings_suffix
from ..core.stats import min_samples_for
from ..core.verdict import contention

#: marks a tail percentile taken from too few samples to be more than the run's largest values
THIN_TAIL = "†"
THIN_TAIL_NOTE = (f"{THIN_TAIL} p99 from fewer than {min_samples_for(99)} samples: it is one of the "
                  "run's largest samples, not a tail estimate (more --iters or --duration).")

#: marks a latency timed while other processes held the CPUs its pool needed
BUSY = "‡"
BUSY_NOTE = (f"{BUSY} timed on a busy host: other processes held CPUs this row's threads needed; "
             "its latency may be biased against the others.")
SINGLE_ROUND_NOTE = ("round spread '-': one round, so no between-round noise estimate "
                     "(--rounds 3 or more to compare).")


def threads_text(r: ResultRow) -> str:
    """``thr 2`` (asked), or ``thr default`` (the runtime's own choice) for CPU rows."""
    if r.device != "cpu":
        return ""
    return f"thr {r.threads}" if r.threads is not None else "thr default"


def config_label(r: ResultRow, *, precision: bool = True) -> str:
    """One label for one configuration, everywhere a report names it: runtime, precision,
    block form, device (when not the CPU), threads and the non-default settings -- so two
    rows never share a label in a table, a legend or a series."""
    parts = [r.runtime] + ([r.precision] if precision else [])
    if r.form != "c":
        parts.append(f"form {r.form}")
    if r.device != "cpu":
        parts.append(f"({r.device})")
    if threads_text(r):
        parts.append(threads_text(r))
    if r.settings:
        parts.append(settings_suffix(r.settings))
    return " ".join(parts)


REPORT_COLUMNS = [
    # (schema field, column title, formatter)
    (F.arch, "arch", str), (F.cardinality, "C", str), (F.width, "d", str), (F.form, "form", str),
    (F.runtime, "runtime", str), (F.device, "device", str), (F.precision, "precision", str),
    (F.batch, "batch", str), (F.threads, "threads", str),
    (F.settings, "settings", lambda v: settings_suffix(v) or "-"),
    (F.params, "params (M)", lambda v: f"{v / 1e6:.2f}"), (F.macs, "GMACs", lambda v: f"{v / 1e9:.3f}"),
    (F.latency_p50_ms, "p50 ms", lambda v: f"{v:.2f}"), (F.latency_p99_ms, "p99 ms", lambda v: f"{v:.2f}"),
    (F.latency_n, "n", str), (F.rounds, "rounds", str),
    (F.round_spread, "round spread", lambda v: f"{v:.1%}"), (F.latency_cv, "CV", lambda v: f"{v:.1%}"),
    (F.throughput_ips, "img/s", lambda v: f"{v:.1f}"),
    (F.achieved_gflops, "GFLOP/s", lambda v: f"{v:.1f}"),
    (F.parity_max_abs_err, "max abs err", lambda v: f"{v:.2e}"),
    (F.parity_top1_agreement, "top-1 agree", lambda v: f"{v:.3f}"),
    (F.parity_passed, "parity", lambda v: "pass" if v else "FAIL"),
    (F.status, "status", str),
]

SORT_FIELDS = (F.arch, F.form, F.runtime, F.device, F.precision, F.batch)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def natural_key(text: str) -> tuple:
    """Numbers compare as numbers: resnet18 < resnet50 < resnet101, 2x40d < 32x4d."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(text)))


def sort_rows(rows: list[ResultRow]) -> list[ResultRow]:
    return sorted(rows, key=lambda r: tuple(getattr(r, k) if k == F.batch else natural_key(getattr(r, k))
                                            for k in SORT_FIELDS))


def is_reference(r: ResultRow) -> bool:
    """PyTorch fp32 eager on the CPU *is* the parity reference: its row says so instead of
    'pass' with an error of 0."""
    return r.runtime == "torch" and r.precision == "fp32" and r.device == "cpu"


def table_records(rows: list[ResultRow]) -> tuple[list[str], list[list[str]]]:
    """Column titles and formatted cells, sorted by arch/form/runtime/device/precision/batch."""
    heads = [c[1] for c in REPORT_COLUMNS]
    body = [[cell(r, k, fmt) for k, _, fmt in REPORT_COLUMNS] for r in sort_rows(rows)]
    return heads, body


def cell(r: ResultRow, key: str, fmt) -> str:
    v = getattr(r, key)
    if key == F.parity_passed and is_reference(r) and v is not False:
        return "reference"
    if key == F.round_spread and v is not None and (r.rounds or 0) < 2:
        return "-"
    if _missing(v):
        return "-"
    text = fmt(v)
    if key == F.latency_p99_ms and (r.latency_n or 0) < min_samples_for(99):
        text += THIN_TAIL
    if key == F.latency_p50_ms and contention(r):
        text += BUSY
    return text


def table_notes(rows: list[ResultRow]) -> list[str]:
    """The marks' explanations, for the marks that appear."""
    ok = [r for r in rows if r.ok]
    return (([THIN_TAIL_NOTE] if has_thin_tail(ok) else [])
            + ([BUSY_NOTE] if any(contention(r) for r in ok) else [])
            + ([SINGLE_ROUND_NOTE] if any(r.latency_n and (r.rounds or 0) < 2 for r in ok) else []))


def has_thin_tail(rows: list[ResultRow]) -> bool:
    return any(r.latency_p99_ms is not None and (r.latency_n or 0) < min_samples_for(99) for r in rows)


def markdown_table(heads: list[str], body: list[list[str]]) -> str:
    def esc(s):
        return str(s).replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in heads) + " |",
             "|" + "|".join("---" for _ in heads) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def text_table(heads: list[str], body: list[list[str]]) -> str:
    """Left-aligned columns for the terminal."""
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in body]
    return "\n".join(lines)


def flat_frame(rows: list[ResultRow]):
    """Flat DataFrame for CSV / parquet: scalar columns only (raw samples as JSON strings)."""
    import json

    import pandas as pd

    flat = [{k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in r.to_json().items()}
            for r in sort_rows(rows)]
    df = pd.DataFrame(flat)
    lead = [k for k, _, _ in REPORT_COLUMNS if k in df.columns]
    return df[lead + [c for c in df.columns if c not in lead]]
