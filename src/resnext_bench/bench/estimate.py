"""How long a plan will take, from what this machine measured before (``--dry-run``).

Every measured row appends one line to ``ARTIFACTS/measured-times.jsonl``: the machine (node and
CPU model), the configuration, its achieved GFLOP/s, mean call time and load time. An estimate
for a configuration uses, in order: the same configuration measured on this machine; the same
runtime, precision and device at another arch or batch, scaled by FLOPs (the median achieved
GFLOP/s); nothing (the configuration is counted as unknown, not guessed). The wall time of a
configuration is its load, the warm-up and timed calls (or ``--min-time`` / ``--duration``
when longer) and the pause before each block; the export of a file not yet cached is not
known and not counted (the dry-run says so).
"""

from __future__ import annotations

import platform
import statistics
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..config import RunConfig
from ..core.fileio import append_jsonl, read_jsonl
from ..core.rundir import TIMING_HISTORY
from ..core.schema import Combo, ResultRow

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
        # the machine's speed during the run: compare's history floor is taken control-normalized
        entry["p50_per_control"] = statistics.median(
            m / c for m, c in zip(row.round_medians_ms, row.control_rounds_ms) if c)
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


@dataclass
class Estimate:
    combo: Combo
    seconds: float | None  # None: nothing measured that it could be scaled from
    basis: str


@lru_cache(maxsize=None)
def arch_flops(arch: str, image_size: int) -> int | None:
    try:
        from ..models.info import arch_info

        return arch_info(arch, image_size)["flops"]
    except Exception:  # an estimate never fails a dry-run
        return None


def _history(artifacts: str | Path) -> list[dict]:
    rows, _ = read_jsonl(Path(artifacts) / HISTORY)
    node = platform.node()
    return [r for r in rows if r.get("node") == node]


def estimate(config: RunConfig, combos: list[Combo]) -> list[Estimate]:
    from .runner import SETTLE_S  # the pause before each timed block

    hist = _history(config.export.artifacts)
    t = config.timing
    out = []
    for c in combos:
        same = [h for h in hist if h.get("key") == c.key]
        kin = [h for h in hist if (h.get("runtime"), h.get("precision"), h.get("device"))
               == (c.runtime, c.precision, c.device) and h.get("gflops")]
        loads = [h["load_seconds"] for h in (same or kin) if h.get("load_seconds")]
        if same:
            call_ms, basis = statistics.median(h["mean_ms"] for h in same), "measured before"
        elif kin and arch_flops(c.arch, c.image_size):
            gflops = statistics.median(h["gflops"] for h in kin)
            call_ms = arch_flops(c.arch, c.image_size) * c.batch / (gflops * 1e9) * 1e3
            basis = f"scaled from {len(kin)} {c.runtime} {c.precision} row(s) by FLOPs"
        else:
            out.append(Estimate(c, None, "never measured here"))
            continue
        calls = (t.warmup + t.iters) * call_ms / 1e3
        timed = t.duration if t.duration is not None else max(calls, t.min_time)
        seconds = (statistics.median(loads) if loads else 0.0) * t.processes + timed \
            + t.warmup_time + t.rounds * SETTLE_S
        out.append(Estimate(c, seconds, basis))
    return out


def render_dry_run(config: RunConfig, todo: list[Combo], skip_reason) -> str:
    """The plan, one configuration a line with why it is in or out and its estimate."""
    ests = estimate(config, todo)
    lines = [f"{len(todo)} configuration(s), {config.timing.rounds} interleaved round(s) each, "
             f"groups of at most {config.timing.group_size}:"]
    known, unknown = 0.0, 0
    for e in ests:
        reason = skip_reason(e.combo)
        if reason:
            lines.append(f"  {e.combo.key}  skipped: {reason}")
            continue
        if e.seconds is None:
            unknown += 1
            lines.append(f"  {e.combo.key}  ~? s ({e.basis})")
        else:
            known += e.seconds
            lines.append(f"  {e.combo.key}  ~{e.seconds:.0f} s ({e.basis})")
    measured = len([e for e in ests if e.seconds is not None and not skip_reason(e.combo)])
    total = (f"estimate: ~{known / 60:.1f} min for the {measured} configuration(s) with "
             "earlier measurements here" if measured else
             "estimate: none of these was measured on this machine before, so no estimate")
    if unknown and measured:
        total += f", plus {unknown} never measured here"
    lines.append(total + " (exports not yet cached are extra; the run prints its ETA as it goes)")
    return "\n".join(lines)
