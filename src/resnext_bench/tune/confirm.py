"""The pick against the default, paired: the measurement a tune's answer rests on.

The search (:mod:`.search`) found its pick in stages screened on short blocks; before anything
is deployed, :func:`confirm` measures the pick and the default in one group, interleaved round
by round with a fresh worker per side and round, as ``ab`` does, and judges them by the one rule
(:func:`~resnext_bench.core.verdict.interleaved_verdict`). :func:`load_dependence` says when the
search and the confirmation saw different loads and disagree; :func:`same_in_effect` when the
pick is the default already.
"""

from __future__ import annotations

from ..core.schema import ResultRow
from .search import THRESHOLD, SearchResult, per_unit_rounds


#: the confirmation's rounds: at least (a verdict needs them), at most
CONFIRM_ROUNDS = (5, 15)
#: a difference smaller than this is "the same" (ab's default threshold; the search's)
CONFIRM_THRESHOLD = THRESHOLD
#: the confirmation's timing (a fresh worker per side and round, as ``ab`` measures)
CONFIRM_TIMING = {"min_time": 1.0, "iters": 6, "warmup": 3, "layers": True, "stage": "confirm"}


def same_in_effect(pick: ResultRow, base: ResultRow) -> bool:
    """Whether the pick is the default configuration in effect: the same runtime, precision,
    batch and settings, with the threads the default resolved to (read back after load)."""
    if (pick.runtime, pick.precision, pick.batch, pick.settings or {}) != \
            (base.runtime, base.precision, base.batch, base.settings or {}):
        return False
    resolved = (base.runtime_info or {}).get("threads_effective") or base.threads
    return pick.threads is None or pick.threads == resolved


def confirm(measure, pick, base, objective: str, left_s: float, per_round_s: float) -> dict:
    """The pick against the default in one group, interleaved round by round with a fresh
    worker per side and round (as ``ab`` measures), with as many rounds as fit in ``left_s``
    (5 to 15): the headline's ratio, its interval and its verdict come from this stage only,
    judged by :func:`~resnext_bench.core.verdict.interleaved_verdict` -- the rule of ``ab`` and
    of the search, busy host or not. Verdict: ``faster`` / ``slower`` when the whole interval
    lies beyond the 5 % threshold, ``same`` when the median ratio is within it,
    ``inconclusive`` between (or when a side failed)."""
    from ..core.verdict import Outcome, contended, interleaved_verdict

    lo, hi = CONFIRM_ROUNDS
    rounds = int(max(lo, min(hi, left_s / max(per_round_s, 1e-3))))
    timing = dict(CONFIRM_TIMING, rounds=rounds, processes=rounds, group_size=2)
    rows = {r.config_key: r for r in measure([base, pick], timing)}
    b, p = rows.get(base.key), rows.get(pick.key)
    out = {"paired": True, "rounds": rounds, "ratio": None, "ci": None, "verdict": "inconclusive",
           "notes": [], "pick_row": p, "default_row": b, "load_cores": None}
    if b is None or p is None or not b.ok or not p.ok or not b.round_medians_ms or not p.round_medians_ms:
        out["notes"].append("a side of the confirmation did not measure: "
                            + "; ".join(f"{r.config_key}: {r.error}" for r in (b, p) if r is not None and not r.ok))
        return out
    if p.parity_layers_passed is False:  # the search screened on the logits; this is the pick
        out["notes"].append(f"the pick fails layer-wise parity: {p.parity_layers_first_failure} "
                            "(its logits passed the screen): check the file before deploying it")
    base_rounds, pick_rounds = per_unit_rounds(b, objective), per_unit_rounds(p, objective)
    n = min(len(base_rounds), len(pick_rounds))
    busy = contended((("the default", b), ("the pick", p)))
    v = interleaved_verdict(base_rounds[:n], pick_rounds[:n], CONFIRM_THRESHOLD, busy=busy)
    # v.ratio: pick / default time; the headline says how many times faster the pick is
    out["ratio"] = 1 / v.ratio if v.ratio else None
    out["ci"] = [1 / v.ci_high, 1 / v.ci_low] if v.ci_low else None
    out["verdict"] = {Outcome.IMPROVEMENT: "faster", Outcome.REGRESSION: "slower",
                      Outcome.UNCHANGED: "same"}.get(v.verdict, "inconclusive")
    out["notes"] += v.notes
    loads = [r.host_load_cores for r in (b, p) if r.host_load_cores is not None]
    out["load_cores"] = round(sum(loads) / len(loads), 2) if loads else None
    return out


def load_dependence(res: SearchResult, confirmation: dict, objective: str) -> str | None:
    """Where the pick won the search under one load and lost (or tied) the confirmation under
    another: the best configuration depends on the load -- said with both measurements."""
    from ..core.verdict import BUSY_CORES

    pick = res.standings[res.winner].row
    dflt = res.standings[res.baseline].row if res.baseline else None
    searched, confirmed = pick.host_load_cores, confirmation.get("load_cores")
    if dflt is None or searched is None or confirmed is None or abs(searched - confirmed) < BUSY_CORES:
        return None
    p, d = per_unit_rounds(pick, objective), per_unit_rounds(dflt, objective)
    if not p or not d:
        return None
    ratio = (sorted(d)[len(d) // 2]) / (sorted(p)[len(p) // 2])
    cpus = pick.host_cpus or "?"
    return (f"the best configuration depends on the load: with other processes holding "
            f"{searched:.1f} of {cpus} CPUs (the search, stage {pick.extra.get('tune_stage')}) the "
            f"pick ran {ratio:.2f}x the default's speed; with {confirmed:.1f} held (the "
            f"confirmation) {confirmation['ratio']:.2f}x, 95% CI [{confirmation['ci'][0]:.2f}, "
            f"{confirmation['ci'][1]:.2f}]. On a host as busy as the search's, re-run tune there "
            "and deploy its pick; as measured last, keep the default")
