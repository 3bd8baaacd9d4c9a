"""Compact text table of result rows for the terminal (no pandas needed)."""

from __future__ import annotations


def _fmt(v, spec):
    if v is None:
        return "-"
    try:
        return format(v, spec)
    except (TypeError, ValueError):
        return str(v)


COLUMNS = [
    ("arch", "arch", "s"), ("form", "form", "s"), ("runtime", "runtime", "s"), ("device", "dev", "s"),
    ("precision", "prec", "s"), ("batch", "batch", "d"), ("threads", "thr", "s"),
    ("latency_p50_ms", "p50 ms", ".2f"), ("latency_p99_ms", "p99 ms", ".2f"),
    ("throughput_ips", "img/s", ".1f"), ("parity_max_abs_err", "max err", ".1e"),
    ("parity_top1_agreement", "top1", ".2f"), ("parity_passed", "parity", "s"), ("status", "status", "s"),
]


def rows_table(rows: list[dict], columns=COLUMNS) -> str:
    head = [c[1] for c in columns]
    body = []
    for r in rows:
        line = []
        for key, _, spec in columns:
            v = r.get(key)
            if key == "parity_passed":
                v = {True: "pass", False: "FAIL", None: "-"}.get(v, str(v))
            line.append(_fmt(v, spec) if spec != "s" else ("-" if v is None else str(v)))
        body.append(line)
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    out += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    notes = [f"  {r['runtime']} {r['precision']} b{r['batch']}: {r['status']}: {r['error']}"
             for r in rows if r.get("status") != "ok" and r.get("error")]
    return "\n".join(out + notes)
