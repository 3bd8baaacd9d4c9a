"""matplotlib figures for the HTML report, returned as PNG bytes (Agg backend, no display).

Each function returns None when the run holds too little data for that chart (e.g. one batch
size gives no latency-vs-batch line), so the report says so instead of drawing an empty axis.

Readable at a glance: where many series would share one axis there is one panel per runtime
(or per batch); tick labels are plain numbers (1, 2, 4, 8, not 2^0); axes that compare bars,
latencies or throughputs start at zero; every axis names its unit.
"""

from __future__ import annotations

import io
import math

from ..core.paper import published_for
from ..core.pareto import pareto_front
from ..core.schema import F
from .tables import config_label, natural_key

MAX_PANELS = 6


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    _plt().close(fig)
    return buf.getvalue()


def _plain_ticks(axis, values=None) -> None:
    """Plain numbers on a (log) axis: 1, 2, 4, 8 -- not 2^0 or 10^0."""
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    fmt = ScalarFormatter()
    fmt.set_scientific(False)
    if values:
        axis.set_major_locator(FixedLocator(sorted(set(values))))
    axis.set_major_formatter(fmt)
    axis.set_minor_formatter(NullFormatter())


def _label(r) -> str:
    return config_label(r)


def _panels(n: int, width: float = 4.2, height: float = 3.4):
    plt = _plt()
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False,
                             layout="constrained")
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def failing(r) -> bool:
    """A row whose parity (or accuracy) check failed: every chart marks it, none treats it as
    an answer."""
    return getattr(r, "parity_passed", None) is False


def _mark_failing(ax, points) -> None:
    """A red cross over each (x, y, row) point whose row failed parity, one legend entry."""
    bad = [(x, y) for x, y, r in points if failing(r)]
    if bad:
        ax.scatter([b[0] for b in bad], [b[1] for b in bad], marker="x", s=70, color="red",
                   linewidths=2, zorder=5, label="parity FAIL")


def latency_vs_batch(rows) -> bytes | None:
    """p50 latency per image vs batch: one panel per runtime, one line per (arch, device,
    precision, form)."""
    series: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for r in rows:
        # one series per configuration but the batch: threads and settings in the label, so
        # two thread counts are never joined into one line
        key = f"{r.arch} {config_label(r).split(' ', 1)[1]}"
        series.setdefault(r.runtime, {}).setdefault(key, []).append((r.batch, r.latency_p50_ms, r))
    series = {rt: {k: sorted(v, key=lambda p: p[0]) for k, v in s.items() if len(v) >= 2}
              for rt, s in series.items()}
    series = {rt: s for rt, s in series.items() if s}
    if not series:
        return None
    runtimes = sorted(series)[:MAX_PANELS]
    fig, axes = _panels(len(runtimes))
    for ax, rt in zip(axes, runtimes):
        batches, top = [], 0.0
        for name, pts in sorted(series[rt].items(), key=lambda kv: natural_key(kv[0])):
            batches += [p[0] for p in pts]
            top = max(top, *(p[1] / p[0] for p in pts))
            ax.plot([p[0] for p in pts], [p[1] / p[0] for p in pts], marker="o", label=name)
        _mark_failing(ax, [(p[0], p[1] / p[0], p[2]) for pts in series[rt].values() for p in pts])
        ax.set_xscale("log", base=2)
        _plain_ticks(ax.xaxis, batches)
        ax.set_ylim(0, top * 1.35)  # room for the legend above the lines
        ax.set_xlabel("batch (images)")
        ax.set_ylabel("p50 latency per image (ms)")
        ax.set_title(rt, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Latency per image vs batch (lower is better)", fontsize=11)
    return _png(fig)


def throughput_vs_gmacs(rows) -> bytes | None:
    """Best throughput per (arch, runtime config) against the arch's GMACs, one panel per
    precision."""
    best: dict[tuple, object] = {}
    for r in rows:
        k = (r.arch, _label(r))
        if k not in best or r.throughput_ips > best[k].throughput_ips:
            best[k] = r
    if len({k[0] for k in best}) < 2:
        return None
    precisions = sorted({r.precision for r in best.values()})[:MAX_PANELS]
    fig, axes = _panels(len(precisions), width=5.0)
    for ax, prec in zip(axes, precisions):
        labels = sorted({k[1] for k, r in best.items() if r.precision == prec})
        for label in labels:
            pts = sorted(((r.macs / 1e9, r.throughput_ips, r.arch, r) for k, r in best.items()
                          if k[1] == label), key=lambda p: p[:3])
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
            for x, y, name, _ in pts:
                ax.annotate(name, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
            _mark_failing(ax, [(p[0], p[1], p[3]) for p in pts])
        ax.margins(x=0.15)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("GMACs per image (10^9 multiply-adds)")
        ax.set_ylabel("best throughput (images/s)")
        ax.set_title(prec, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Throughput vs complexity (higher is better)", fontsize=11)
    return _png(fig)


def cardinality_study(rows) -> bytes | None:
    """The paper's question: at similar complexity, how do C x d settings compare?

    One bar per arch (natural order), showing params (M), GMACs and p50 latency of the first
    runtime configuration present for all of them.
    """
    archs = sorted({(r.cardinality or 1, r.width or 64, r.arch) for r in rows},
                   key=lambda t: natural_key(t[2]))
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
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.9), layout="constrained")
    names = [f"{a}\n(C={c}, d={d})" + ("\n[parity FAIL]" if failing(pick[a]) else "") for c, d, a in archs]
    for ax, (key, title, scale) in zip(axes, [(F.params, "params (millions)", 1e6),
                                              (F.macs, "GMACs (10^9 multiply-adds)", 1e9),
                                              (F.latency_p50_ms, f"p50 latency (ms)\n{label}, batch {batch}", 1)]):
        ax.bar(range(len(archs)), [getattr(pick[a], key) / scale for _, _, a in archs], color="#4c72b0")
        ax.set_xticks(range(len(archs)))
        ax.set_xticklabels(names, fontsize=6, rotation=45, ha="right")
        ax.set_ylabel(title, fontsize=8)
        ax.set_ylim(bottom=0)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle("Cardinality vs width", fontsize=11)
    return _png(fig)


def pareto_chart(rows) -> bytes | None:
    if len(rows) < 2:
        return None
    front = pareto_front([r for r in rows if not failing(r)])  # a failing row is no answer
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    for label in sorted({_label(r) for r in rows}):
        pts = [r for r in rows if _label(r) == label]
        ax.scatter([r.latency_p50_ms for r in pts], [r.throughput_ips for r in pts], label=label, s=22)
    _mark_failing(ax, [(r.latency_p50_ms, r.throughput_ips, r) for r in rows])
    ax.plot([r.latency_p50_ms for r in front], [r.throughput_ips for r in front], "k--", lw=1,
            label="Pareto front")
    for r in front:
        ax.annotate(f"{r.arch} b{r.batch}", (r.latency_p50_ms, r.throughput_ips), fontsize=6,
                    xytext=(3, -8), textcoords="offset points")
    return _png(_origin_chart(fig, ax, "p50 latency (ms)", "throughput (images/s)",
                              "Latency vs throughput (up and left is better)"))


def _origin_chart(fig, ax, xlabel: str, ylabel: str, title: str):
    """Axes from zero, labels, title, grid and legend: the two latency-throughput charts."""
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def latency_distribution(rows) -> bytes | None:
    """Every row's raw samples: box (quartiles), whiskers at the 1st and 99th percentile, the
    median (p50) as the box's line and p99 as a red tick; one panel per batch, rows in the
    report's order."""
    with_samples = [r for r in rows if r.samples_ms]
    if not with_samples:
        return None
    batches = sorted({r.batch for r in with_samples})[:MAX_PANELS]
    plt = _plt()
    per = {b: sorted([r for r in with_samples if r.batch == b],
                     key=lambda r: (natural_key(r.arch), r.runtime, r.precision, r.form)) for b in batches}
    height = sum(0.32 * len(v) + 1.0 for v in per.values())
    fig, axes = plt.subplots(len(batches), 1, figsize=(8.5, max(2.6, height)), squeeze=False,
                             layout="constrained", gridspec_kw={"height_ratios": [len(per[b]) + 2 for b in batches]})
    for ax, b in zip((a[0] for a in axes), batches):
        members = per[b]
        data = [r.samples_ms for r in members]
        ax.boxplot(data, vert=False, whis=(1, 99), showfliers=False, widths=0.6,
                   medianprops={"color": "black"})
        for i, r in enumerate(members, start=1):
            if r.latency_p99_ms is not None:
                ax.plot([r.latency_p99_ms], [i], marker="|", color="red", markersize=12)
        ax.set_yticks(range(1, len(members) + 1))
        ax.set_yticklabels([f"{r.arch} {_label(r)} (n={len(r.samples_ms)})"
                            + (" [parity FAIL]" if failing(r) else "") for r in members], fontsize=7)
        for tick, r in zip(ax.get_yticklabels(), members):
            if failing(r):
                tick.set_color("red")
        ax.invert_yaxis()  # first row on top, as in the table
        ax.set_xlim(left=0)
        ax.set_xlabel("latency per call (ms)")
        ax.set_title(f"batch {b}", fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle("Latency distribution (box: quartiles, whiskers: p1-p99, red tick: p99)", fontsize=10)
    return _png(fig)


def error_vs_latency(rows) -> bytes | None:
    """The accuracy / cost trade-off: the paper's published top-1 error of each measured arch
    against its measured p50 latency (fp32, smallest batch measured, fastest block form), one
    point per arch and runtime; one panel per dataset (ImageNet-1K, CIFAR-10)."""
    pts: dict[str, list[tuple]] = {}
    for r in rows:
        pub = published_for(r.arch)
        if pub is None or pub.top1_error is None or r.precision != "fp32":
            continue
        pts.setdefault(pub.dataset, []).append((r, pub))
    if not pts:
        return None
    fig, axes = _panels(len(pts), width=7.0 if len(pts) == 1 else 5.5, height=4.2)
    for ax, (dataset, members) in zip(axes, sorted(pts.items())):
        smallest = {}
        for r, pub in members:
            k = (r.arch, r.runtime, r.device)  # its fastest form and smallest batch
            if k not in smallest or (r.batch, r.latency_p50_ms) < (smallest[k][0].batch, smallest[k][0].latency_p50_ms):
                smallest[k] = (r, pub)
        for runtime in sorted({k[1] for k in smallest}):
            chosen = [v for k, v in smallest.items() if k[1] == runtime]
            ax.scatter([r.latency_p50_ms for r, _ in chosen], [p.top1_error for _, p in chosen],
                       label=runtime, s=28)
        _mark_failing(ax, [(r.latency_p50_ms, p.top1_error, r) for r, p in smallest.values()])
        labelled = {}
        for r, p in smallest.values():  # name each arch once, at its fastest point
            if r.arch not in labelled or r.latency_p50_ms < labelled[r.arch][0].latency_p50_ms:
                labelled[r.arch] = (r, p)
        for r, p in labelled.values():
            ax.annotate(f"{r.arch} (batch {r.batch})", (r.latency_p50_ms, p.top1_error), fontsize=7,
                        xytext=(4, 5), textcoords="offset points")
        ax.set_xlim(0, max(r.latency_p50_ms for r, _ in smallest.values()) * 1.3)
        ax.margins(y=0.12)
        ax.set_xlabel("measured p50 latency (ms), fp32")
        ax.set_ylabel(f"published top-1 error (%), {dataset}")
        ax.set_title(dataset, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Published error (arXiv 1611.05431) vs measured latency\n(down and left is better)",
                 fontsize=10)
    return _png(fig)


def layer_profile(rows) -> bytes | None:
    """Per-layer relative RMS error (local: each block on the runtime's own input) of every row
    with a layer-wise profile, one line per runtime x precision, layers in network order: where
    int8 (or bf16, fp16) loses. Failing layers are marked red."""
    with_profile = [r for r in rows if r.parity_layers_profile]
    if not with_profile:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9.5, 3.8), layout="constrained")
    names = None
    for r in sorted(with_profile, key=lambda r: (r.precision, r.runtime))[:12]:
        prof = [p for p in r.parity_layers_profile if p.get("rel_rms") is not None]
        names = names if names and len(names) >= len(prof) else [p["layer"] for p in prof]
        ys = [max(p["rel_rms"], 1e-7) for p in prof]
        q = (r.quantization or {}).get("quantizer")
        ax.plot(range(len(ys)), ys, marker=".", linewidth=1,
                label=f"{r.arch} {r.runtime} {r.precision}" + (f" ({q})" if q else ""))
        bad = [(i, y) for i, (p, y) in enumerate(zip(prof, ys)) if not p["passed"]]
        if bad:
            ax.scatter(*zip(*bad), color="red", zorder=5, s=30)
    ax.set_yscale("log")
    step = max(1, len(names) // 24)
    ax.set_xticks(range(0, len(names), step))
    ax.set_xticklabels(names[::step], rotation=60, ha="right", fontsize=6)
    ax.set_ylabel("relative RMS error (local)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6, loc="upper left")
    ax.set_title("Layer-wise parity: each layer's error at its own scale (red: failing)", fontsize=9)
    return _png(fig)


def latency_throughput_curves(rows, limit_ms: float | None = None, pick_key: str | None = None
                              ) -> bytes | None:
    """Serving rows: one curve per server configuration, p99 per request against throughput as
    the load grows (closed loop: clients; open loop: rate); ``limit_ms`` as a line and the
    pick (``pick_key``) ringed, as ``tune --objective throughput`` answers."""
    from .sections import server_config

    loaded = [r for r in rows if r.load_mode and r.throughput_ips and r.latency_p99_ms]
    if not loaded:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    def load_of(r) -> float:
        s = r.settings or {}
        return float(s.get("concurrency") or s.get("request_rate") or 0)

    for label in sorted({server_config(r) for r in loaded}):
        # in the order the load grows, each point labelled with its load (clients or req/s)
        pts = sorted((r for r in loaded if server_config(r) == label), key=load_of)
        ax.plot([r.throughput_ips for r in pts], [r.latency_p99_ms for r in pts], "o-", ms=4,
                lw=1, label=label)
        for r in pts:
            ax.annotate(f"{load_of(r):g}", (r.throughput_ips, r.latency_p99_ms), fontsize=7,
                        xytext=(4, 2), textcoords="offset points")
    if limit_ms is not None:
        ax.axhline(limit_ms, color="r", lw=1, ls="--", label=f"p99 limit {limit_ms:g} ms")
    pick = next((r for r in loaded if r.config_key == pick_key), None)
    if pick is not None:
        ax.scatter([pick.throughput_ips], [pick.latency_p99_ms], s=140, facecolors="none",
                   edgecolors="k", lw=1.5, label="pick", zorder=5)
    return _png(_origin_chart(fig, ax, "throughput (images/s)", "p99 latency per request (ms)",
                              "Latency vs throughput as the load grows (point labels: clients, or req/s)"))
