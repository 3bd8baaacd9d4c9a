"""``resnext-bench compare BASE NEW``: the CI regression check.

Rows are matched by config key. For each pair, the raw latency samples give the ratio of medians
(new / base, printed "1.23x slower") and a seeded bootstrap 95% confidence interval of that
ratio. A row **regresses** when it is slower by more than ``threshold`` *and* the whole interval
lies above ``1 + threshold``: confident the slowdown exceeds the threshold, so the ordinary
run-to-run noise of a shared machine is not flagged while a genuine 1.5x slowdown is.

Also reported: parity broken (pass -> fail: a regression), parity error growth (> 2x: a warning),
status ok -> failed (a regression), complexity changed (params/MACs differ: the model changed,
timings are not comparable; reported, not a regression), rows missing on either side.
Exit code 1 when anything regressed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from ..core.rundir import RunData, latest
from ..core.schema import ResultRow
from .tables import markdown_table, text_table

BOOTSTRAP = 2000
CONFIDENCE = 0.95


def ratio_ci(base, new, n_boot: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float, float]:
    """(median(new)/median(base), low, high) with a percentile bootstrap interval."""
    b = np.asarray(base, dtype=np.float64)
    n = np.asarray(new, dtype=np.float64)
    ratio = float(np.median(n) / np.median(b))
    rng = np.random.default_rng(seed)
    mb = np.median(rng.choice(b, size=(n_boot, b.size), replace=True), axis=1)
    mn = np.median(rng.choice(n, size=(n_boot, n.size), replace=True), axis=1)
    boots = mn / mb
    alpha = (1 - CONFIDENCE) / 2
    return ratio, float(np.quantile(boots, alpha)), float(np.quantile(boots, 1 - alpha))


def describe_ratio(ratio: float) -> str:
    if ratio >= 1:
        return f"{ratio:.2f}x slower"
    return f"{1 / ratio:.2f}x faster"


@dataclass
class RowComparison:
    key: str
    verdict: str  # regression | improvement | unchanged | parity_break | failed | model_changed | missing | new | skipped
    ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    base_p50_ms: float | None = None
    new_p50_ms: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def is_regression(self) -> bool:
        return self.verdict in ("regression", "parity_break", "failed")


def _samples(row: ResultRow):
    if row.samples_ms:
        return row.samples_ms
    return [row.latency_p50_ms] if row.latency_p50_ms is not None else None


def compare_rows(base_rows: list[ResultRow], new_rows: list[ResultRow],
                 threshold: float = 0.05) -> list[RowComparison]:
    base = {r.config_key: r for r in latest(base_rows)}
    new = {r.config_key: r for r in latest(new_rows)}
    out = []
    for key in sorted(set(base) | set(new)):
        b, n = base.get(key), new.get(key)
        if n is None:
            out.append(RowComparison(key, "missing", notes=["in base, not in new run"]))
            continue
        if b is None:
            out.append(RowComparison(key, "new", notes=["not in base run"]))
            continue
        if not b.ok or not n.ok:
            if b.ok and n.status == "failed":
                out.append(RowComparison(key, "failed", notes=[f"now failing: {n.error}"]))
            else:
                out.append(RowComparison(key, "skipped", notes=[f"base {b.status}, new {n.status}"]))
            continue
        c = RowComparison(key, "unchanged", base_p50_ms=b.latency_p50_ms, new_p50_ms=n.latency_p50_ms)
        if (b.params, b.macs) != (n.params, n.macs):
            c.verdict = "model_changed"
            c.notes.append(f"complexity changed: params {b.params} -> {n.params}, "
                           f"MACs {b.macs} -> {n.macs}")
        bs, ns = _samples(b), _samples(n)
        if bs and ns:
            c.ratio, c.ci_low, c.ci_high = ratio_ci(bs, ns)
            if c.verdict == "unchanged":
                if c.ratio > 1 + threshold and c.ci_low > 1 + threshold:
                    c.verdict = "regression"
                elif c.ratio < 1 / (1 + threshold) and c.ci_high < 1 / (1 + threshold):
                    c.verdict = "improvement"
            if min(len(bs), len(ns)) < 5:
                c.notes.append("fewer than 5 samples: interval unreliable")
        if b.parity_passed is True and n.parity_passed is False:
            c.verdict = "parity_break"
            c.notes.append(f"parity broke: max_rel_err {b.parity_max_rel_err:.3g} -> "
                           f"{n.parity_max_rel_err:.3g}, top-1 {b.parity_top1_agreement} -> "
                           f"{n.parity_top1_agreement}")
        else:
            be, ne = b.parity_max_rel_err, n.parity_max_rel_err
            if be is not None and ne is not None and ne > 2 * be and ne - be > 1e-6:
                c.notes.append(f"parity error grew {be:.3g} -> {ne:.3g}")
        out.append(c)
    return out


def compare_runs(base: RunData, new: RunData, threshold: float = 0.05) -> list[RowComparison]:
    return compare_rows(base.rows, new.rows, threshold)


def render(comparisons: list[RowComparison], fmt: str, threshold: float) -> str:
    if fmt == "json":
        return json.dumps({"threshold": threshold,
                           "regressions": sum(c.is_regression for c in comparisons),
                           "rows": [asdict(c) | {"is_regression": c.is_regression} for c in comparisons]},
                          indent=2)
    heads = ["config", "verdict", "base p50 ms", "new p50 ms", "change", "95% CI of ratio", "notes"]
    body = []
    for c in comparisons:
        body.append([
            c.key, c.verdict.upper() if c.is_regression else c.verdict,
            "-" if c.base_p50_ms is None else f"{c.base_p50_ms:.3f}",
            "-" if c.new_p50_ms is None else f"{c.new_p50_ms:.3f}",
            "-" if c.ratio is None else describe_ratio(c.ratio),
            "-" if c.ci_low is None else f"[{c.ci_low:.3f}, {c.ci_high:.3f}]",
            "; ".join(c.notes)])
    n_reg = sum(c.is_regression for c in comparisons)
    summary = (f"{n_reg} regression(s) among {len(comparisons)} configs (threshold {threshold:.0%}, "
               f"flagged when the bootstrap {CONFIDENCE:.0%} interval of the median ratio is above "
               f"{1 + threshold:.2f})")
    if fmt == "md":
        return f"## resnext-bench compare\n\n{summary}\n\n" + markdown_table(heads, body) + "\n"
    return "\n".join([text_table(heads, body), "", summary])
