"""``tune --concurrency auto``: the load to size a server for, read from a curve.

The default configuration (ONNX Runtime CPU fp32, its own threads) serves 1, 2, 4, ... up to
twice the usable CPUs concurrent clients, interleaved in one stage (rows ``tune_stage: knee``).
Throughput grows with the clients until the CPUs are full; past that point more clients only
queue, and the p99 grows with no images/s to show for it. The **knee** is the fewest clients
whose throughput reaches :data:`KNEE_SHARE` of the curve's best, with the p99 within
``--max-latency-ms`` where given; the search then runs every candidate at that load.
"""

from __future__ import annotations

from ..core.schema import Combo
from .candidates import thread_counts

#: the knee: the fewest clients reaching this share of the best throughput on the curve
KNEE_SHARE = 0.9
#: one short interleaved stage: enough to tell a doubling of throughput from a plateau
KNEE_TIMING = {"rounds": 3, "min_time": 3.0, "iters": 30, "warmup": 5, "processes": 1,
               "stage": "knee"}


def load_levels(cpus: int) -> list[int]:
    """1, 2, 4, ... up to twice the usable CPUs (a server's queue shows past its CPUs)."""
    return thread_counts(2 * max(1, cpus))


def find_knee(measure, default: Combo, levels: list[int], max_latency_ms: float | None) -> dict:
    """Measure ``default`` at each load in ``levels`` (one stage) and read the knee; the
    answer's ``load`` record: the concurrency, the curve and the rule that chose it."""
    combos = [Combo(**dict(default.__dict__, settings=dict(default.settings, concurrency=n)))
              for n in levels]
    rows = {r.config_key: r for r in measure(combos, dict(KNEE_TIMING, group_size=len(combos)))}
    curve = []
    for n, c in zip(levels, combos):
        r = rows.get(c.key)
        curve.append({"concurrency": n, "ok": bool(r is not None and r.ok and r.throughput_ips),
                      "throughput_ips": r.throughput_ips if r is not None else None,
                      "latency_p99_ms": r.latency_p99_ms if r is not None else None,
                      "host_load_cores": r.host_load_cores if r is not None else None})
    measured = [c for c in curve if c["ok"]]
    rule = (f"the fewest clients whose throughput reaches {KNEE_SHARE:.0%} of the best on the "
            "default configuration's curve" + (f", p99 within {max_latency_ms:g} ms"
                                              if max_latency_ms is not None else ""))
    if not measured:
        return {"concurrency": levels[0], "chosen": "auto: the curve did not measure; "
                f"{levels[0]} client(s)", "curve": curve, "rule": rule}
    best = max(c["throughput_ips"] for c in measured)
    within = [c for c in measured if max_latency_ms is None or c["latency_p99_ms"] <= max_latency_ms]
    knee = next((c for c in within if c["throughput_ips"] >= KNEE_SHARE * best), None)
    if knee is None and within:  # under the limit the curve never reaches the share
        knee = max(within, key=lambda c: c["throughput_ips"])
    if knee is None:  # even one client is over the limit: the lightest load, said so
        return {"concurrency": measured[0]["concurrency"], "curve": curve, "rule": rule,
                "chosen": f"auto: the default's p99 is over {max_latency_ms:g} ms at every load "
                          f"measured; the lightest ({measured[0]['concurrency']} client(s))"}
    return {"concurrency": knee["concurrency"], "curve": curve, "rule": rule,
            "chosen": f"auto: the knee, {knee['concurrency']} client(s) ({knee['throughput_ips']:.1f} "
                      f"img/s of the best {best:.1f}, p99 {knee['latency_p99_ms']:.1f} ms)"}
