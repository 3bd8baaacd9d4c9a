"""A staged search within a time budget: a race, then interleaved screens judged by the interval.

**The race** (stage 0) measures every candidate once, briefly (one short block each, parity
included): a candidate that fails parity, misses the accuracy target or fails to run is *out*,
with the reason; one whose fastest quartile of calls is slower than :data:`RACE_FACTOR` times the
best's slowest quartile is *beaten* at once -- 3x beyond both samples' spread is no measurement
noise on any host where it ran (a 45x slower torch-compile row never reaches the screen). The
race is measured in chunks, the clock read between them: exports and calibration happen here,
and a race that would eat the budget stops, saying which candidates it never reached.

**The screens** (stages 1, 2, ...) measure the candidates still in, all in one group,
interleaved round by round with a fresh worker per candidate and round (``processes = rounds``),
so whatever the machine does -- another job starting, a busy loop beside it -- lands on every
candidate alike and shows as round-to-round spread. Each contender is judged against the best
by :func:`~resnext_bench.core.verdict.interleaved_verdict`, the rule ``ab`` and the
confirmation use: the per-round ratios' 95 % interval wholly beyond the threshold -> *beaten*;
the median ratio within the threshold -> *tied*; anything between -> *not separated* (more
rounds may separate them, and the next stage measures it again). A stage only starts when its
predicted time (the last stage's cost per candidate and round, scaled) fits in what is left.

A stage whose prediction does not fit screens only the fastest contenders that fit (at least
two; successive halving by the budget); the others are *cut*, reported as not separated with
the ratio the last stage measured. The search ends when one contender is left (*ahead*), when every other contender is tied with
the best (*settled*: the rest are within the threshold, more rounds would not change the
answer), or at the budget. The tied candidates are reported as a tie and settled by the stated
tie-break; candidates not separated are reported as such, with their ratio, interval, rounds and
spread -- never as "a tie".

The default configuration is measured in every stage, interleaved with the contenders, so the
answer's "N x faster than the default" is a ratio taken within one stage -- it never competes.

The search is pure over a ``measure(combos, timing) -> rows`` callable and a ``clock``: the
CLI passes the real runner, tests a fake one and a fake clock.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..bench.runner import SETTLE_S  # the pause before each block, part of a round's cost
from ..core.schema import ResultRow
from ..core.stats import percentile_bounds, spread
from ..core.verdict import (Outcome, Verdict, contended, interleaved_verdict, judge_interval,
                            not_separated_text, ratio_ci)
from ..reports.recommend import dependency_rank  # the tie-break recommend states, reused

#: one threshold for every comparison a tune makes: ``ab``'s default
THRESHOLD = 0.05
#: the race: one short block per candidate (the fresh worker is the one it loads anyway)
RACE = {"rounds": 1, "min_time": 0.3, "iters": 5, "warmup": 3, "processes": 1, "stage": 0}
#: raced out: the candidate's fastest quartile slower than this many times the best's slowest
RACE_FACTOR = 3.0
#: candidates per measure call in the race: the clock is read between calls
RACE_CHUNK = 8
#: the share of the search's budget the race may take before it stops reaching candidates
RACE_SHARE = 0.6
#: the first screen: short, with enough rounds for an interval; a busy host starts with more
SCREEN = {"rounds": 3, "min_time": 0.6, "iters": 6, "warmup": 3}
BUSY_SCREEN_ROUNDS = 5
#: each later stage: timed time times this, and this many more rounds
GROWTH, MORE_ROUNDS = 2.0, 2
MAX_ROUNDS = 15
#: the most candidates measured in one interleaved group (the runner's ``group_size`` bound)
MAX_INTERLEAVED = 64


@dataclass
class Standing:
    """One candidate's state in the search."""

    key: str
    status: str = "in"  # in | beaten | out | cut (not screened further: the budget)
    reason: str = ""
    stage: int = 0  # the last stage that measured it
    row: ResultRow | None = None
    ratio: float | None = None  # metric / best's metric at its last stage (paired where paired)
    ci: tuple[float, float] | None = None
    #: against the best at its last screen: "tied" | "not separated" | None (best, or raced)
    relation: str | None = None


@dataclass
class StageRecord:
    index: int
    kind: str  # race | screen
    timing: dict
    members: int
    seconds: float
    beaten: list[str] = field(default_factory=list)
    out: list[str] = field(default_factory=list)
    load_cores: float | None = None  # other processes' CPUs during the stage's blocks (mean)
    #: the cost model the next stage is predicted by (:func:`_predict`): seconds per candidate
    #: and round (a fresh worker's load and the pause), and per candidate once (parity, the
    #: prepare step's checks; exports made in this stage left out: they are made once)
    round_s: float = 0.5
    fixed_s: float = 0.0


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
    unseparated: list[str] = field(default_factory=list)

    @property
    def contenders(self) -> list[Standing]:
        return [s for s in self.standings.values() if s.status == "in" and s.key != self.baseline]


def per_unit_rounds(row: ResultRow, objective: str) -> list[float]:
    """The metric per round: ms per call (latency), or ms per image (throughput). A row under
    load (``--concurrency``): its requests' median latency (latency), or the wall ms per image
    it served in the round -- the inverse of the throughput its clients got, not of one
    request's time (throughput)."""
    if row.load_mode and objective == "throughput":
        return [1000.0 / t for t in (row.load_round_throughput_ips or []) if t]
    per = _per(row, objective)
    return [m / per for m in (row.round_medians_ms or []) if m]


def _per(row: ResultRow, objective: str) -> float:
    return 1.0 if objective == "latency" else row.batch * (row.requests_per_call or 1)


def metric(row: ResultRow, objective: str) -> float:
    rounds = per_unit_rounds(row, objective)
    return sorted(rounds)[len(rounds) // 2] if rounds else math.inf


def quartiles(row: ResultRow, objective: str) -> tuple[float, float]:
    """(25th, 75th) percentile of the row's calls per unit (its raw samples; its round
    medians where a row has no samples)."""
    if row.load_mode and objective == "throughput":  # a request's time is not the cost here
        values, per = per_unit_rounds(row, objective), 1.0
    else:
        values, per = row.samples_ms or row.round_medians_ms or [], _per(row, objective)
    if not values:
        return math.inf, math.inf
    q1, q3 = np.percentile(np.asarray(values, dtype=np.float64) / per, [25, 75])
    return float(q1), float(q3)


def tie_key(row: ResultRow) -> tuple:
    return (row.threads if row.threads is not None else math.inf, row.batch,
            dependency_rank(row.runtime), len(row.settings or {}))


TIE_BREAK = ("the smaller top-1 accuracy drop where accuracy was measured, then the lower "
             "measured median (within the threshold the point estimate is still the best "
             "guess), then fewer threads, smaller batch, fewer runtime dependencies, default "
             "settings")


def tie_break_key(row: ResultRow, objective: str) -> tuple:
    """The order :data:`TIE_BREAK` states, for candidates tied within the threshold."""
    drop = row.accuracy_top1_drop
    return (round(drop, 2) if drop is not None else 0.0, metric(row, objective), tie_key(row))


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
    if row.load_mode:
        # under load the limit is the clients' p99 at that load, and a server that left
        # requests queued does not keep up with it at all
        if row.load_unserved:
            return (f"left {row.load_unserved} of {row.load_offered} requests unserved at "
                    f"{(row.settings or {}).get('request_rate')} req/s: beyond what it serves")
        if max_latency_ms is not None and (row.latency_p99_ms or math.inf) > max_latency_ms:
            # a p99 from a short screen is one of its few largest requests: out only when even
            # the low end of its interval is over the limit (a p99 that straddles the limit
            # stays in, and more rounds decide)
            bounds = percentile_bounds(row.samples_ms or [])
            if bounds is None or bounds[0] > max_latency_ms:
                low = "" if bounds is None else (f"; its 95% interval [{bounds[0]:.2f}, "
                                                 f"{bounds[1]:.2f}] ms from {len(row.samples_ms)} requests")
                return (f"p99 {row.latency_p99_ms:.2f} ms under {(row.settings or {}).get('concurrency')} "
                        f"client(s), over the {max_latency_ms} ms limit{low}")
    elif max_latency_ms is not None and (row.latency_p50_ms or math.inf) > max_latency_ms:
        return f"p50 {row.latency_p50_ms:.2f} ms already over the {max_latency_ms} ms budget"
    if min_throughput is not None and row.throughput_ips is not None and row.round_spread is not None:
        if row.throughput_ips * (1 + row.round_spread) < min_throughput:
            return (f"{row.throughput_ips:.1f} img/s, below {min_throughput} img/s beyond its "
                    f"{row.round_spread:.0%} round spread")
    return None


def screen_timing(screen: int, first_rounds: int = SCREEN["rounds"]) -> dict:
    """Screen ``screen`` (1, 2, ...): a fresh worker per candidate and round."""
    t = dict(SCREEN)
    t["min_time"] = SCREEN["min_time"] * GROWTH ** (screen - 1)
    t["rounds"] = min(MAX_ROUNDS, first_rounds + MORE_ROUNDS * (screen - 1))
    t["processes"] = t["rounds"]
    t["stage"] = screen
    return t


def _stage_load(rows) -> float | None:
    loads = [r.host_load_cores for r in rows if r.host_load_cores is not None]
    return round(float(np.mean(loads)), 3) if loads else None


def _race_judge(standings: dict[str, Standing], keys: list[str], baseline: str | None,
                objective: str) -> list[str]:
    """Beat every contender whose fastest quartile is RACE_FACTOR x the best's slowest."""
    contenders = [k for k in keys if k != baseline and standings[k].status == "in"]
    if not contenders:
        return []
    best = min(contenders, key=lambda k: metric(standings[k].row, objective))
    _, best_q3 = quartiles(standings[best].row, objective)
    beaten = []
    for k in contenders:
        s = standings[k]
        q1, _ = quartiles(s.row, objective)
        s.ratio = float(metric(s.row, objective) / metric(standings[best].row, objective))
        if k != best and q1 > RACE_FACTOR * best_q3:
            s.status = "beaten"
            s.reason = (f"raced out: {s.ratio:.1f}x the best's "
                        f"{'latency' if objective == 'latency' else 'time per image'} in one "
                        f"short block (its fastest quartile {q1:.2f} ms > {RACE_FACTOR:g}x the "
                        f"best's slowest, {best_q3:.2f} ms)")
            beaten.append(k)
    return beaten


def _paired(best_row: ResultRow, row: ResultRow, objective: str):
    """The interleaved verdict of ``row`` against the best (ratios row / best per round)."""
    b, n = per_unit_rounds(best_row, objective), per_unit_rounds(row, objective)
    if len(b) == len(n) and len(b) > 0 and best_row.device == row.device:
        busy = contended((("the best", best_row), ("this candidate", row)))
        return interleaved_verdict(b, n, THRESHOLD, busy=busy)
    # not measured in the same rounds (another device's group): an unpaired interval, the rule
    ratio, low, high = ratio_ci(b, n)
    v = Verdict(Outcome.INCONCLUSIVE, ratio, low, high, max(spread(b), spread(n)),
                rounds=min(len(b), len(n)))
    return judge_interval(v, THRESHOLD, "timed in different groups, not paired")


def _screen_judge(standings: dict[str, Standing], keys: list[str], baseline: str | None,
                  objective: str) -> tuple[str | None, list[str]]:
    """Judge every contender against the best by the interleaved rule; (best, newly beaten)."""
    contenders = [k for k in keys if k != baseline and standings[k].status == "in"]
    if not contenders:
        return None, []
    best = min(contenders, key=lambda k: (metric(standings[k].row, objective),
                                          tie_key(standings[k].row)))
    beaten = []
    for k in contenders:
        s = standings[k]
        if k == best:
            s.ratio, s.ci, s.relation, s.reason = 1.0, (1.0, 1.0), None, "the best so far"
            continue
        v = _paired(standings[best].row, s.row, objective)
        s.ratio, s.ci = v.ratio, (v.ci_low, v.ci_high) if v.ci_low is not None else None
        what = "latency" if objective == "latency" else "time per image"
        if v.verdict is Outcome.REGRESSION:
            s.status, s.relation = "beaten", None
            s.reason = (f"{v.ratio:.2f}x the best's {what} (95% CI [{v.ci_low:.2f}, "
                        f"{v.ci_high:.2f}] over {v.rounds} interleaved rounds, spread "
                        f"{v.noise:.0%}) at stage {s.stage}")
            beaten.append(k)
        elif v.verdict is Outcome.UNCHANGED:
            s.relation = "tied"
            s.reason = (f"tied: {v.ratio:.3f}x the best's {what}, within the {THRESHOLD:.0%} "
                        f"threshold ({v.rounds} interleaved rounds)")
        else:
            s.relation = "not separated"
            s.reason = (not_separated_text(v) if v.ci_low is not None else
                        f"not separated: {v.ratio:.2f}x over {v.rounds} round(s), no interval")
    return best, beaten


def _cost_model(record: StageRecord, rows) -> None:
    """Fit the stage's cost: a round costs the rows' median load plus the pause; the rest of a
    candidate's time, less its timed calls and the exports made here, is its fixed cost."""
    loads = sorted(r.load_seconds for r in rows if r.ok and r.load_seconds)
    if loads:
        record.round_s = loads[len(loads) // 2] + SETTLE_S
    exported = {r.onnx_path: r.export_seconds or 0.0 for r in rows
                if r.export_cache_hit is False and r.onnx_path}
    per = (record.seconds - sum(exported.values())) / max(record.members, 1)
    record.fixed_s = max(0.0, per - record.timing["min_time"]
                         - record.timing["rounds"] * record.round_s)


def _stage(standings, keys, rows, index, kind, timing, seconds, baseline, constraints,
           objective) -> StageRecord:
    record = StageRecord(index, kind, timing, len(keys), seconds, load_cores=_stage_load(rows))
    _cost_model(record, rows)
    for row in rows:
        s = standings[row.config_key]
        s.row, s.stage = row, index
        if row.config_key == baseline:
            continue
        limits = dict(constraints)
        if kind == "race":  # one short block: no p50 to hold against a latency budget
            limits["max_latency_ms"] = None
        why = out_reason(row, **limits)
        if why:
            s.status, s.reason = "out", why
            record.out.append(row.config_key)
    if kind == "race":
        record.beaten = _race_judge(standings, keys, baseline, objective)
    else:
        _, record.beaten = _screen_judge(standings, keys, baseline, objective)
    return record


def _predict(last: StageRecord, members: int, timing: dict) -> float:
    """The next screen's seconds from the last stage's cost model (:func:`_cost_model`): per
    candidate its fixed cost, a round's cost times the rounds, and its timed time."""
    return members * (last.fixed_s + timing["rounds"] * last.round_s + timing["min_time"])


def search(combos_by_key: dict, measure, *, objective: str = "latency", budget_s: float,
           baseline: str | None = None, clock=time.monotonic, max_latency_ms=None,
           min_throughput=None, max_accuracy_drop=None, on_stage=None,
           busy: bool = False) -> SearchResult:
    """Run the stages (see the module doc). ``combos_by_key``: key -> Combo of every candidate;
    ``measure(combos, timing)`` returns one row per combo; ``on_stage(record)`` hears each;
    ``busy``: the host was busy when the tune started (the first screen takes more rounds)."""
    start = clock()
    standings = {k: Standing(k) for k in combos_by_key}
    constraints = {"max_latency_ms": max_latency_ms, "min_throughput": min_throughput,
                   "max_accuracy_drop": max_accuracy_drop}
    stages: list[StageRecord] = []
    stopped = "budget"

    # -- the race: every candidate once, the default first, in chunks with the clock read between
    order = sorted(combos_by_key, key=lambda k: k != baseline)
    rows, unreached = [], []
    t0 = clock()
    for i in range(0, len(order), RACE_CHUNK):
        chunk = order[i:i + RACE_CHUNK]
        if i and clock() - start > RACE_SHARE * budget_s:
            unreached = order[i:]
            break
        rows += measure([combos_by_key[k] for k in chunk], dict(RACE))
    for k in unreached:
        standings[k].status = "out"
        standings[k].reason = (f"not measured: the race spent its {RACE_SHARE:.0%} share of the "
                               "budget (exports and calibration included) before reaching it")
    record = _stage(standings, [r.config_key for r in rows], rows, 0, "race", dict(RACE),
                    clock() - t0, baseline, constraints, objective)
    record.out += unreached
    stages.append(record)
    if on_stage is not None:
        on_stage(record)

    # -- the screens
    first_rounds = BUSY_SCREEN_ROUNDS if busy else SCREEN["rounds"]
    screen = 1
    while True:
        live = [k for k, s in standings.items() if s.status == "in"]
        contenders = [k for k in live if k != baseline]
        if len(contenders) <= 1:
            stopped = "ahead" if contenders else "none left"
            break
        if screen > 1 and all(standings[k].relation in ("tied", None) for k in contenders):
            stopped = (f"settled: every other candidate is within the {THRESHOLD:.0%} threshold "
                       "of the best")
            break
        if len(live) > MAX_INTERLEAVED:  # one group interleaves at most this many
            keep = sorted(contenders, key=lambda k: metric(standings[k].row, objective))
            for k in keep[MAX_INTERLEAVED - 1:]:
                standings[k].status = "beaten"
                standings[k].reason = (f"not among the {MAX_INTERLEAVED - 1} fastest of the "
                                       "race (one interleaved group holds at most "
                                       f"{MAX_INTERLEAVED})")
            continue
        timing = screen_timing(screen, first_rounds)
        left = budget_s - (clock() - start)
        predicted = _predict(stages[-1], len(live), timing)
        if predicted > left:  # successive halving by the budget: the fastest that fit
            fit = max((k for k in range(2, len(contenders))
                       if _predict(stages[-1], k + (baseline in live), timing) <= left), default=0)
            if not fit:
                stopped = (f"budget: the next stage ({len(live)} candidates, {timing['rounds']} "
                           f"rounds, ~{predicted:.0f} s) would not fit in the {max(left, 0):.0f} s left")
                break
            ranked = sorted(contenders, key=lambda k: (metric(standings[k].row, objective),
                                                       tie_key(standings[k].row)))
            for k in ranked[fit:]:
                st = standings[k]
                st.status, st.relation = "cut", "not separated"
                st.reason = (f"not separated: cut by the budget after stage {st.stage} at "
                             f"{st.ratio:.2f}x the best there, outside the {fit} fastest whose "
                             f"screen fit in the {left:.0f} s left")
            live = [k for k in live if standings[k].status == "in"]
            predicted = _predict(stages[-1], len(live), timing)
        timing["group_size"] = len(live)
        t0 = clock()
        rows = measure([combos_by_key[k] for k in live], timing)
        record = _stage(standings, live, rows, screen, "screen", timing, clock() - t0, baseline,
                        constraints, objective)
        stages.append(record)
        if on_stage is not None:
            on_stage(record)
        screen += 1
        if clock() - start >= budget_s:
            stopped = "budget: spent"
            break

    contenders = [s for k, s in standings.items() if s.status == "in" and k != baseline]
    ranked = sorted(contenders, key=lambda s: (metric(s.row, objective), tie_key(s.row)))
    winner = ranked[0].key if ranked else None  # the best of the last stage's judgement
    tied = [s for s in ranked if s.key == winner or s.relation == "tied"]
    tied.sort(key=lambda s: tie_break_key(s.row, objective))  # the answer lists them in order
    winner = tied[0].key if tied else winner
    ties = [s.key for s in tied]
    cut = sorted((s for s in standings.values() if s.status == "cut"),
                 key=lambda s: metric(s.row, objective))
    unseparated = [s.key for s in ranked if s.relation == "not separated"] + [s.key for s in cut]
    if len(stages) == 1 and len(ranked) > 1:  # only the race: nothing is separated
        unseparated = [s.key for s in ranked[1:]]
        for s in ranked[1:]:
            s.relation = "not separated"
            s.reason = f"not separated: only the race measured it ({s.ratio:.2f}x the best there)"
        ties = [winner]
    return SearchResult(standings, stages, winner, ties if len(ties) > 1 else [], TIE_BREAK,
                        stopped, baseline, clock() - start, unseparated)
