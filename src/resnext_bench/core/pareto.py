"""The latency / throughput Pareto front of measured rows (used by recommend and the report)."""

from __future__ import annotations


def pareto_front(rows: list) -> list:
    """Rows not dominated in (lower p50 latency, higher throughput), fastest first."""
    def dominates(o, r) -> bool:
        return (o.latency_p50_ms <= r.latency_p50_ms and o.throughput_ips >= r.throughput_ips
                and (o.latency_p50_ms < r.latency_p50_ms or o.throughput_ips > r.throughput_ips))

    front = [r for r in rows if not any(o is not r and dominates(o, r) for o in rows)]
    return sorted(front, key=lambda r: r.latency_p50_ms)
