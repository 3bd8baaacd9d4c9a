"""matplotlib figures for the HTML report, returned as PNG bytes (Agg backend, no display).

Each function returns None when the run holds too little data for that chart (e.g. one batch
size gives no latency-vs-batch line), so the report says so instead of drawing an empty axis.
"""

from __future__ import annotations

import io

from ..core.pareto import pareto_front
from ..core.schema import F


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    _plt().close(fig)
    return buf.getvalue()


def _finish_log_axes(ax, xlabel: str, ylabel: str, title: str, xbase: int = 10, ylog: bool = True):
    ax.set_xscale("log", base=xbase)
    if ylog:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def _label(r) -> str:
    return f"{r.runtime} {r.device} {r.precision}"


def latency_vs_batch(rows: list[dict]) -> bytes | None:
    """p50 latency vs batch, one line per (arch, runtime, device, precision)."""
    series: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        series.setdefault(f"{r.arch} {_label(r)}", []).append((r.batch, r.latency_p50_ms))
    series = {k: sorted(v) for k, v in series.items() if len(v) >= 2}
    if not series:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name, pts in sorted(series.items()):
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    _finish_log_axes(ax, "batch", "p50 latency (ms)", "Latency vs batch", xbase=2)
    return _png(fig)


def throughput_vs_gmacs(rows: list[dict]) -> bytes | None:
    """Best throughput per (arch, runtime config) against the arch's GMACs."""
    best: dict[tuple, dict] = {}
    for r in rows:
        k = (r.arch, _label(r))
        if k not in best or r.throughput_ips > best[k].throughput_ips:
            best[k] = r
    if len({k[0] for k in best}) < 2:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for label in sorted({k[1] for k in best}):
        pts = sorted((r.macs / 1e9, r.throughput_ips, r.arch) for k, r in best.items() if k[1] == label)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
        for x, y, name in pts:
            ax.annotate(name, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("GMACs per image")
    ax.set_ylabel("best throughput (images/s)")
    ax.set_title("Throughput vs complexity")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def cardinality_study(rows: list[dict]) -> bytes | None:
    """The paper's question: at similar complexity, how do C x d settings compare?

    One bar group per arch (sorted by C), showing params (M), GMACs and p50 latency of the first
    runtime configuration present for all of them.
    """
    archs = sorted({(r.cardinality, r.width, r.arch) for r in rows})
    if len(archs) < 2:
        return None
    configs = None
    for _, _, a in archs:
        keys = {(_label(r), r.batch) for r in rows if r.arch == a}
        configs = keys if configs is None else configs & keys
    if not configs:
        return None
    label, batch = sorted(configs, key=lambda c: (c[1], c[0]))[0]
    pick = {r.arch: r for r in rows if _label(r) == label and r.batch == batch}
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.8))
    names = [f"{a}\n(C={c}, d={d})" for c, d, a in archs]
    for ax, (key, title, scale) in zip(axes, [(F.params, "params (M)", 1e6), (F.macs, "GMACs", 1e9),
                                              (F.latency_p50_ms, f"p50 ms ({label}, batch {batch})", 1)]):
        ax.bar(range(len(archs)), [getattr(pick[a], key) / scale for _, _, a in archs], color="#4c72b0")
        ax.set_xticks(range(len(archs)))
        ax.set_xticklabels(names, fontsize=6, rotation=45, ha="right")
        ax.set_title(title, fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle("Cardinality vs width", fontsize=10)
    return _png(fig)


def pareto_chart(rows: list[dict]) -> bytes | None:
    if len(rows) < 2:
        return None
    front = pareto_front(rows)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for label in sorted({_label(r) for r in rows}):
        pts = [r for r in rows if _label(r) == label]
        ax.scatter([r.latency_p50_ms for r in pts], [r.throughput_ips for r in pts], label=label, s=22)
    ax.plot([r.latency_p50_ms for r in front], [r.throughput_ips for r in front], "k--", lw=1,
            label="Pareto front")
    for r in front:
        ax.annotate(f"{r.arch} b{r.batch}", (r.latency_p50_ms, r.throughput_ips), fontsize=6,
                    xytext=(3, -8), textcoords="offset points")
    _finish_log_axes(ax, "p50 latency (ms)", "throughput (images/s)", "Latency vs throughput", ylog=False)
    return _png(fig)
