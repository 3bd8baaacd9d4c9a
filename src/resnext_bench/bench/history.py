"""This machine's timing history: one line per measured row in ``ARTIFACTS/measured-times.jsonl``.

Two readers with different questions, both through :func:`~resnext_bench.core.rundir.
read_timing_history`: :mod:`.estimate` (how long will a plan take here) and ``compare`` (how far
do this configuration's runs spread here, and how far does it follow the control). The writer is
the row sink (:mod:`.rows`), so the history lives apart from both.
"""

from __future__ import annotations

import platform
import statistics
from pathlib import Path

from ..core.fileio import append_jsonl
from ..core.rundir import TIMING_HISTORY
from ..core.schema import ResultRow

HISTORY = TIMING_HISTORY


def history_entry(row: ResultRow) -> dict | None:
    """What an ok row adds to the machine's timing history (None: nothing to add)."""
    if not row.ok or not row.latency_mean_ms:
        return None
    entry = {"node": row.node or platform.node(), "device_model": row.device_model, "key": row.config_key,
             "runtime": row.runtime, "precision": row.precision, "device": row.device,
             "batch": row.batch, "flops": row.flops, "mean_ms": row.latency_mean_ms,
             "gflops": row.achieved_gflops, "load_seconds": row.load_seconds,
             "host_load_cores": row.host_load_cores,
             "timestamp": row.timestamp}
    if row.control_rounds_ms and row.round_medians_ms and len(row.control_rounds_ms) == len(row.round_medians_ms):
        # the machine's speed during the run: compare learns from these how far the
        # configuration follows the control here, and how its runs spread once divided by it
        entry["control_version"] = row.control_version
        entry["control_threads"] = row.control_threads
        entry["control_ms"] = statistics.median(row.control_rounds_ms)
        entry["p50_ms"] = row.latency_p50_ms
    return entry


def record_time(artifacts: str | Path, row: ResultRow) -> None:
    """Append what an ok row measured to the machine's timing history (best effort: a history
    that cannot be written costs the next estimate, never the run)."""
    entry = history_entry(row)
    if entry is None:
        return
    try:
        append_jsonl(Path(artifacts) / HISTORY, entry)
    except OSError:
        pass
