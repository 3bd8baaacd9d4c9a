"""How long a plan will take, from what this machine measured before (``--dry-run``).

Every measured row appends one line to ``ARTIFACTS/measured-times.jsonl`` (:mod:`.history`): the
machine (node and CPU model), the configuration, its achieved GFLOP/s, mean call time and load
time. An estimate
for a configuration uses, in order: the same configuration measured on this machine; the same
runtime, precision and device at another arch or batch, scaled by FLOPs (the median achieved
GFLOP/s); nothing (the configuration is counted as unknown, not guessed). The wall time of a
configuration is its load, the warm-up and timed calls (or ``--min-time`` / ``--duration``
when longer) and the pause before each block; the export of a file not yet cached is not
known and not counted (the dry-run says so).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import lru_cache

from ..config import RunConfig
from ..core.rundir import read_timing_history
from ..core.schema import Combo


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


def estimate(config: RunConfig, combos: list[Combo]) -> list[Estimate]:
    from .runner import SETTLE_S  # the pause before each timed block

    hist = read_timing_history(config.export.artifacts)
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
