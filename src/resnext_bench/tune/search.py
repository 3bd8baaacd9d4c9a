"""A staged search within a time budget: screening, then successive halving by the noise.

Stage 0 measures every candidate briefly, interleaved (the runner's rounds), parity included:
a candidate that fails parity, misses the accuracy target, fails to run, or whose p50 alone is
already over the latency budget is *out*, with the reason. Each later stage measures the
candidates not yet *beaten* with twice the timed time and two more rounds. A candidate is
beaten when the bootstrap interval (over rounds) of its metric's ratio to the best lies wholly
above 1 and the ratio exceeds the rounds' own noise (half the larger round spread, at least
2 %) -- it is slower beyond the noise this run measured, not merely slower on the day. A
candidate whose row was timed on a busy host (:func:`~resnext_bench.core.verdict.contention`) is
not judged on it: it stays in for the next stage. The
search ends when one candidate is ahead of every other with its interval clear, or when the
next stage would not fit in what is left of the budget; then the candidates still in are a
*tie*, reported as one, and settled by the stated tie-break (fewer threads, smaller batch,
fewer runtime dependencies).

The default configuration is measured in every stage, interleaved with the contenders, so the
answer's "N x faster than the default" is a ratio taken within one stage -- it never competes.

The search is pure over a ``measure(combos, timing) -> rows`` callable and a ``clock``: the
CLI passes the real runner, tests a fake one and a fake clock.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from ..core.schema import ResultRow
from ..core.stats import spread
from ..core.verdict import contention, ratio_ci
from ..reports.recommend import dependency_rank  # the tie-break recommend states, reused

#: the screening stage: short, but with enough rounds for a noise estimate
SCREEN = {"rounds": 3, "min_time": 0.6, "iters": 6, "warmup": 3}
#: each later stage: timed time times this, and this many more rounds
GROWTH, MORE_ROUNDS = 2.0, 2
MAX_ROUNDS = 15
#: beaten needs both: the bootstrap interval of the ratio wholly above 1, and the ratio beyond
#: the noise -- half the larger round spread (max - min over the median: half of it is the
#: deviation around the median), at least MIN_EFFECT. The interval alone, over 3-7 rounds and
#: tested again at every stage, called one of two identical candidates "beaten" in the tests.
NOISE_SHARE, MIN_EFFECT = 0.5, 0.02


@dataclass
class Standing:
    """One candidate's state in the search."""

    key: str
    status: str = "in"  # in | beaten | out
    reason: str = ""
    stage: int = 0  # the last stage that measured it
    row: ResultRow | None = None
    ratio: float | None = None  # metric / best's metric at its last stage
    ci: tuple[float, float] | None = None


@dataclass
class StageRecord:
    index: int
    timing: dict
    members: int
    seconds: float
    beaten: list[str] = field(default_factory=list)
    out: list[str] = field(default_factory=list)


@dataclass
class SearchResult:
    standings: dict[str, Standing]
    stages: list[StageRecord]
    winner: str | None
    ties: list[str]
    tie_break: str
    stopped: str  # why the search ended
    baseline: str | None
    seconds: float

    @property
    def contenders(self) -> list[Standing]:
        return [s for s in self.standings.values() if s.status == "in" and s.key != self.baseline]


def per_unit_rounds(row: ResultRow, objective: str) -> list[float]:
    """The metric per round: ms per call (latency), or ms per image (throughput)."""
    per = 1.0 if objective == "latency" else row.batch * (row.requests_per_call or 1)
    return [m / per for m in (row.round_medians_ms or []) if m]


def metric(row: ResultRow, objective: str) -> float:
    rounds = per_unit_rounds(row, objective)
    return sorted(rounds)[len(rounds) // 2] if rounds else math.inf


def tie_key(row: ResultRow) -> tuple:
    return (row.threads if row.threads is not None else math.inf, row.batch,
            dependency_rank(row.runtime), len(row.settings or {}))


TIE_BREAK = ("the lower measured median (the intervals do not separate them, the point estimate "
             "is still the best guess), then fewer threads, smaller batch, fewer runtime "
             "dependencies, default settings")


def out_reason(row: ResultRow, *, max_latency_ms=None, min_throughput=None,
               max_accuracy_drop=None) -> str | None:
    """Why a measured candidate cannot be the answer, whatever more rounds would say."""
    if not row.ok:
        return f"{row.status}: {row.error}"
    if row.parity_passed is None:
        return "parity not checked"
    failed = row.parity_failed or ["outside its tolerance"]
    if max_accuracy_drop is not None:
        # the user's accuracy bound decides, not logit error: a row that keeps the accuracy on
        # labeled images is in even where its logits miss a fidelity threshold; broken outputs
        # and a path that computes something else stay out
        if row.accuracy_top1_drop is None:
            return "no accuracy measured (needs a labeled --images folder)"
        if row.accuracy_top1_drop > max_accuracy_drop:
            return f"top-1 accuracy drop {row.accuracy_top1_drop:.2f} > {max_accuracy_drop} points"
        broken = [f for f in failed if "not finite" in f or "end-to-end path" in f]
        if row.parity_passed is False and broken:
            return "parity FAIL: " + "; ".join(broken)
    elif row.parity_passed is False:
        return "parity FAIL: " + "; ".join(failed)
    if max_latency_ms is not None and (row.latency_p50_ms or math.inf) > max_latency_ms:
        return f"p50 {row.latency_p50_ms:.2f} ms already over the {max_latency_ms} ms budget"
    if min_throughput is not None and row.throughput_ips is not None and row.round_spread is not None:
        if row.throughput_ips * (1 + row.round_spread) < min_throughput:
            return (f"{row.throughput_ips:.1f} img/s, below {min_throughput} img/s beyond its "
                    f"{row.round_spread:.0%} round spread")
    return None


def _timing_for(stage: int) -> dict:
    t = dict(SCREEN)
    t["min_time"] = SCREEN["min_time"] * GROWTH ** stage
    t["rounds"] = min(MAX_ROUNDS, SCREEN["rounds"] + MORE_ROUNDS * stage)
    return t


def _judge(standings: dict[str, Standing], keys: list[str], baseline: str | None,
           objective: str) -> tuple[str | None, list[str]]:
    """Mark contenders beaten beyond the noise by the best; (best key, newly beaten)."""
    contenders = [k for k in keys if k != baseline and standings[k].status == "in"]
    if not contenders:
        return None, []
    best = min(contenders, key=lambda k: (metric(standings[k].row, objective),
                                          tie_key(standings[k].row)))
    best_rounds = per_unit_rounds(standings[best].row, objective)
    beaten = []
    for k in contenders:
        s = standings[k]
        rounds = per_unit_rounds(s.row, objective)
        if k == best:
            s.ratio, s.ci = 1.0, (1.0, 1.0)
            continue
        ratio, low, high = ratio_ci(best_rounds, rounds)
        s.ratio, s.ci = ratio, (low, high)
        noise = max(MIN_EFFECT, NOISE_SHARE * max(spread(best_rounds), spread(rounds)))
        if low > 1.0 and ratio > 1 + noise and contention(s.row):
            s.reason = (f"timed on a busy host at stage {s.stage} ({ratio:.2f}x the best): kept "
                        "for the next stage rather than judged on a biased row")
        elif low > 1.0 and ratio > 1 + noise:
            s.status = "beaten"
            s.reason = (f"{ratio:.2f}x the best's {'latency' if objective == 'latency' else 'time per image'} "
                        f"(95% CI [{low:.2f}, {high:.2f}], round spread {spread(rounds):.0%}) at stage {s.stage}")
            beaten.append(k)
    return best, beaten


def search(combos_by_key: dict, measure, *, objective: str = "latency", budget_s: float,
           baseline: str | None = None, clock=time.monotonic, max_latency_ms=None,
           min_throughput=None, max_accuracy_drop=None, on_stage=None) -> SearchResult:
    """Run the stages (see the module doc). ``combos_by_key``: key -> Combo of every candidate;
    ``measure(combos, timing)`` returns one row per combo; ``on_stage(record)`` hears each."""
    start = clock()
    standings = {k: Standing(k) for k in combos_by_key}
    stages: list[StageRecord] = []
    stopped = "budget"
    per_candidate_overhead = None  # measured: load, parity, pauses -- the stage minus timing
    stage = 0
    while True:
        live = [k for k, s in standings.items() if s.status == "in"]
        contenders = [k for k in live if k != baseline]
        if stage > 0 and len(contenders) <= 1:
            stopped = "ahead" if contenders else "none left"
            break
        timing = _timing_for(stage)
        if stage > 0:
            left = budget_s - (clock() - start)
            predicted = len(live) * (per_candidate_overhead + timing["min_time"])
            if predicted > left:
                stopped = (f"budget: the next stage ({len(live)} candidates, ~{predicted:.0f} s) "
                           f"would not fit in the {max(left, 0):.0f} s left")
                break
        t0 = clock()
        rows = measure([combos_by_key[k] for k in live], timing)
        seconds = clock() - t0
        per_candidate_overhead = max(0.0, seconds / max(len(live), 1) - timing["min_time"])
        record = StageRecord(stage, timing, len(live), seconds)
        for row in rows:
            s = standings[row.config_key]
            s.row, s.stage = row, stage
            if row.config_key == baseline:
                continue
            why = out_reason(row, max_latency_ms=max_latency_ms, min_throughput=min_throughput,
                             max_accuracy_drop=max_accuracy_drop)
            if why:
                s.status, s.reason = "out", why
                record.out.append(row.config_key)
        _best, beaten = _judge(standings, live, baseline, objective)
        record.beaten = beaten
        stages.append(record)
        if on_stage is not None:
            on_stage(record)
        stage += 1
        if clock() - start >= budget_s:
            stopped = "budget: spent"
            break
    contenders = [s for k, s in standings.items() if s.status == "in" and k != baseline]
    best = min(contenders, key=lambda s: (metric(s.row, objective), tie_key(s.row)), default=None)
    ties = []
    if len(contenders) > 1:
        ties = sorted((s.key for s in contenders),
                      key=lambda k: (metric(standings[k].row, objective), tie_key(standings[k].row)))
        winner = ties[0]
    else:
        winner = best.key if best else None
    return SearchResult(standings, stages, winner, ties, TIE_BREAK, stopped, baseline,
                        clock() - start)
