"""The report table (one row per measured combination) and its markdown / CSV renderings."""

from __future__ import annotations

import math

REPORT_COLUMNS = [
    # (row key, column title, formatter)
    ("arch", "arch", str), ("cardinality", "C", str), ("width", "d", str), ("form", "form", str),
    ("runtime", "runtime", str), ("device", "device", str), ("precision", "precision", str),
    ("batch", "batch", str), ("threads", "threads", lambda v: "-" if v is None else str(v)),
    ("params", "params (M)", lambda v: f"{v / 1e6:.2f}"), ("macs", "GMACs", lambda v: f"{v / 1e9:.3f}"),
    ("latency_p50_ms", "p50 ms", lambda v: f"{v:.2f}"), ("latency_p99_ms", "p99 ms", lambda v: f"{v:.2f}"),
    ("throughput_ips", "img/s", lambda v: f"{v:.1f}"),
    ("achieved_gflops", "GFLOP/s", lambda v: f"{v:.1f}"),
    ("parity_max_abs_err", "max abs err", lambda v: f"{v:.2e}"),
    ("parity_top1_agreement", "top-1 agree", lambda v: f"{v:.3f}"),
    ("parity_passed", "parity", lambda v: "pass" if v else "FAIL"),
    ("status", "status", str),
]

SORT_KEYS = ["arch", "form", "runtime", "device", "precision", "batch"]


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def table_records(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Column titles and formatted cells, sorted by arch/form/runtime/device/precision/batch."""
    rows = sorted(rows, key=lambda r: tuple(str(r.get(k, "")) if k != "batch" else
                                           f"{int(r.get('batch') or 0):06d}" for k in SORT_KEYS))
    heads = [c[1] for c in REPORT_COLUMNS]
    body = []
    for r in rows:
        body.append(["-" if _missing(r.get(k)) else fmt(r.get(k)) for k, _, fmt in REPORT_COLUMNS])
    return heads, body


def markdown_table(heads: list[str], body: list[list[str]]) -> str:
    def esc(s):
        return str(s).replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in heads) + " |",
             "|" + "|".join("---" for _ in heads) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def flat_frame(rows: list[dict]):
    """Flat DataFrame for CSV / parquet: scalar columns only (raw samples as JSON strings)."""
    import json

    import pandas as pd

    flat = []
    for r in rows:
        out = {}
        for k, v in r.items():
            out[k] = json.dumps(v) if isinstance(v, (list, dict)) else v
        flat.append(out)
    df = pd.DataFrame(flat)
    lead = [k for k, _, _ in REPORT_COLUMNS if k in df.columns]
    return df[lead + [c for c in df.columns if c not in lead]]
