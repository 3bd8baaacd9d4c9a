"""Is a latency change real? Verdicts that know the noise of a shared machine.

Two situations, two rules:

* **Two stored runs** (``compare``): the runs were measured at different times, so a shift
  between them can be drift of the machine, not the code. Each run's per-round medians show how
  far the same configuration moves *within* a run; :func:`unpaired_verdict` calls a change real
  only when the ratio of medians exceeds the threshold **and** the larger of the two runs'
  between-round spreads, **and** a bootstrap over the rounds of both runs puts the ratio above 1
  with 95 % confidence. With fewer than :data:`MIN_ROUNDS` rounds on either side there is no
  noise estimate: a change beyond the threshold is ``inconclusive``, not a regression.
* **Two sides timed interleaved in one job** (``ab``; ``tune``'s elimination and its
  confirmation): drift hits both alike; :func:`paired_verdict` takes the per-round ratios
  new/base, their median, and a bootstrap over rounds, and :func:`interleaved_verdict` judges
  them by one rule, busy host or not: the whole interval beyond the threshold is a change, a
  median within it is unchanged, anything between is undecided.

A latency verdict of ``compare`` from a row timed on a busy host (:func:`contention`: other
processes held CPUs the row's thread pool needed) is ``inconclusive``: the runs were timed
apart, and a bias that sticks to one run is not in either run's noise. ``ab`` under contention
judges instead (:func:`interleaved_verdict`, the one rule ``ab`` and ``tune`` share): its rounds are interleaved and each round of each
side runs in a fresh worker process, so the contention lands on both sides and shows as
round-to-round spread in the per-round ratios. What the contention could explain is what the
interval reaches: a change counts only when the whole interval lies beyond the threshold
(``[1.83, 3.13]`` is a regression, busy or not); a median within the threshold is ``unchanged``;
anything between is ``inconclusive`` -- and ``ab`` measures more rounds first, until the interval
settles or its time cap (perf_analyzer's stability window).

Ratios are new / base of latency: above 1 is slower.

What a comparison concludes is an :class:`Outcome`; which outcomes are regressions
(:data:`REGRESSIONS`, exit 1 for ``compare`` and ``ab``) and which finding wins when several
apply (:func:`settle`) are defined here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from .stats import spread


class Outcome(str, Enum):
    """The verdict on one configuration compared across two sides (a string: JSON and text
    print it as its value)."""

    REGRESSION = "regression"
    P99_REGRESSION = "p99_regression"
    THROUGHPUT_REGRESSION = "throughput_regression"
    PARITY_BREAK = "parity_break"
    FAILED = "failed"  # ok before, failed now (ab: the new side failed)
    SKIPPED_NOW = "skipped_now"  # ok before, skipped now
    MISSING = "missing"  # in the base run, not in the new one
    MISSING_ALLOWED = "missing_allowed"  # the same, under --allow-missing: said, not a regression
    IMPROVEMENT = "improvement"
    UNCHANGED = "unchanged"
    INCONCLUSIVE = "inconclusive"  # the verdict was not reached (noise, busy host, base failed)
    MODEL_CHANGED = "model_changed"  # params / MACs differ: timings of two networks
    SETTINGS_CHANGED = "settings_changed"  # the same config under other runtime settings
    NEW = "new"
    SKIPPED = "skipped"  # not ok on either side

    def __str__(self) -> str:
        return self.value

    @property
    def is_regression(self) -> bool:
        return self in REGRESSIONS


#: the outcomes that fail a gate (exit 1)
REGRESSIONS = frozenset({Outcome.REGRESSION, Outcome.P99_REGRESSION, Outcome.THROUGHPUT_REGRESSION,
                         Outcome.PARITY_BREAK, Outcome.FAILED, Outcome.SKIPPED_NOW, Outcome.MISSING})
#: the verdicts that come from timings (a busy host makes them inconclusive)
LATENCY_VERDICTS = frozenset({Outcome.REGRESSION, Outcome.IMPROVEMENT, Outcome.UNCHANGED,
                              Outcome.P99_REGRESSION, Outcome.THROUGHPUT_REGRESSION})
#: the timing regressions (a settings change explains them: ``settings_changed``)
TIMING_REGRESSIONS = frozenset({Outcome.REGRESSION, Outcome.P99_REGRESSION,
                                Outcome.THROUGHPUT_REGRESSION})


def settle(latency: Outcome, *, gates=(), busy: bool = False, model_changed: bool = False,
           parity_broke: bool = False) -> Outcome:
    """The one precedence between findings on one configuration, strongest first:

    1. parity broke (``parity_break``): the new side computes something else, whatever its speed;
    2. the network changed (``model_changed``): timings of two networks are not a regression;
    3. a side timed on a busy host makes any timing verdict ``inconclusive``;
    4. the latency regression, then the extra gates (p99, throughput) in the order given;
    5. the latency verdict (improvement, unchanged, or inconclusive for too few rounds).
    """
    if parity_broke:
        return Outcome.PARITY_BREAK
    if model_changed:
        return Outcome.MODEL_CHANGED
    timing = latency
    if latency is not Outcome.REGRESSION and gates:
        timing = Outcome(gates[0])
    if busy and timing in LATENCY_VERDICTS:
        return Outcome.INCONCLUSIVE
    return timing

BOOTSTRAP = 2000
CONFIDENCE = 0.95
MIN_ROUNDS = 3


@dataclass
class Verdict:
    verdict: Outcome  # regression | improvement | unchanged | inconclusive
    ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    noise: float | None = None  # relative between-round spread that a change must exceed
    notes: list[str] = field(default_factory=list)
    rounds: int | None = None  # the rounds (paired: per-round ratios) the verdict rests on
    undecided: bool = False  # inconclusive, and more rounds may settle it
    #: controlled verdicts: the configuration's own ratio and the control's (the machine's)
    raw_ratio: float | None = None
    control_ratio: float | None = None


def _interval(boots) -> tuple[float, float]:
    alpha = (1 - CONFIDENCE) / 2
    return float(np.quantile(boots, alpha)), float(np.quantile(boots, 1 - alpha))


def ratio_ci(base, new, n_boot: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float, float]:
    """(median(new)/median(base), low, high): percentile bootstrap resampling both sides."""
    b = np.asarray(base, dtype=np.float64)
    n = np.asarray(new, dtype=np.float64)
    ratio = float(np.median(n) / np.median(b))
    rng = np.random.default_rng(seed)
    mb = np.median(rng.choice(b, size=(n_boot, b.size), replace=True), axis=1)
    mn = np.median(rng.choice(n, size=(n_boot, n.size), replace=True), axis=1)
    return (ratio, *_interval(mn / mb))


def _classify(ratio: float, low: float, high: float, threshold: float, noise: float) -> Outcome:
    band = max(threshold, noise)
    if ratio > 1 + band and low > 1:
        return Outcome.REGRESSION
    if ratio < 1 / (1 + band) and high < 1:
        return Outcome.IMPROVEMENT
    return Outcome.UNCHANGED


def unpaired_verdict(base_samples, new_samples, base_rounds, new_rounds, threshold: float, *,
                     floor: float | None = None) -> Verdict:
    """Two runs measured at different times (``compare``): see the module doc. ``floor``: the
    between-run noise this machine's history shows for the configuration (:func:`history_floor`).
    The band a change must exceed is the larger of the threshold and that floor or, without a
    history, the rounds' spread; the ratio's interval must exclude 1 as well."""
    ratio = float(np.median(new_samples) / np.median(base_samples))
    rounds = min(len(base_rounds or []), len(new_rounds or []))
    if rounds < MIN_ROUNDS:
        v = Verdict(Outcome.UNCHANGED, ratio)
        if abs(np.log(ratio)) > np.log(1 + threshold):
            v.verdict = Outcome.INCONCLUSIVE
        v.notes.append(f"{rounds} round(s) on one side: no between-round noise estimate "
                       f"(re-measure with --rounds {MIN_ROUNDS} or more)")
        return v
    # the band a change must clear: this machine's between-run noise of the configuration where
    # its history shows it (asv's rule: the runs' spread, which holds the rounds' noise and the
    # drift no single run can see), else the rounds' own spread as the best in-run proxy
    floored = floor is not None
    noise = floor if floored else max(spread(base_rounds), spread(new_rounds))
    _, low, high = ratio_ci(base_rounds, new_rounds)
    v = Verdict(_classify(ratio, low, high, threshold, noise), ratio, low, high, noise)
    if noise > threshold and v.verdict is Outcome.UNCHANGED and abs(np.log(ratio)) > np.log(1 + threshold):
        if floored:  # the machine's own runs move this much: no verdict either way
            v.verdict = Outcome.INCONCLUSIVE
            v.notes.append(f"beyond the {threshold:.0%} threshold but within this machine's "
                           f"{noise:.0%} between-run noise of the configuration (its history)")
        else:
            v.notes.append(f"beyond the {threshold:.0%} threshold but within the runs' "
                           f"{noise:.0%} between-round noise")
    return v


#: runs of a configuration in this machine's history before their spread is a noise floor
HISTORY_MIN_RUNS = 4


def history_floor(values) -> float | None:
    """The between-run noise of one configuration from this machine's history (its earlier
    runs' times, control-normalized where recorded): the band within which two runs of an
    unchanged configuration land, 2 x sqrt(2) x the relative standard deviation estimated from
    the interquartile range (IQR / 1.349 / median): a ratio of two runs carries two runs' noise,
    and 2 sigma of it covers 95 %. The IQR, not the MAD: a machine whose runs are fast or slow
    as a whole (43.8 or 49.5 ms) has a bimodal history whose MAD sees one mode only, while a
    minority of regressed runs in the history (under a quarter) does not move it. None with
    fewer than :data:`HISTORY_MIN_RUNS` runs."""
    v = np.asarray([x for x in values if x], dtype=np.float64)
    if v.size < HISTORY_MIN_RUNS:
        return None
    med = float(np.median(v))
    q1, q3 = np.percentile(v, [25, 75])
    return float(2.0 * np.sqrt(2.0) * (q3 - q1) / 1.349 / med) if med > 0 else None


def control_elasticity(p50s, controls) -> float | None:
    """How much this configuration moves when the control moves, on this machine: the slope of
    log(p50) on log(control reading) over its earlier runs (a control variate's coefficient),
    clipped to [0, 1.5]. None with fewer than :data:`HISTORY_MIN_RUNS` runs or a
    control that stayed within 1 % (nothing to learn from; the quotient's slope 1 is assumed).

    Why: a yardstick moves by its own amount, not the configuration's. Measured on this
    project's 2-vCPU KVM Xeon with AMX (``reports/cpu/compare-drift``, ten quiet runs): the
    control's readings spanned 18 % while resnext50_32x4d's p50 spanned 4 % (slope 0.18);
    divided by the control whole the runs spread 4.2 % (sd), by the control to the power 0.18
    1.1 %, undivided 1.4 % (the noisy hour's eight quiet runs: slope 0.26; 3.8, 1.0, 1.7 %)."""
    x = np.log(np.asarray(controls, dtype=np.float64))
    y = np.log(np.asarray(p50s, dtype=np.float64))
    if x.size < HISTORY_MIN_RUNS or x.size != y.size or x.std() < 0.01:
        return None
    # Theil-Sen: the median of the pairwise slopes, so one odd run (a spell twice as slow)
    # does not set the slope for the other nine, as it does a least-squares fit
    i, j = np.triu_indices(x.size, k=1)
    dx = x[j] - x[i]
    keep = np.abs(dx) > 0.005
    if keep.sum() < HISTORY_MIN_RUNS:
        return None
    return float(np.clip(np.median((y[j] - y[i])[keep] / dx[keep]), 0.0, 1.5))


def controlled_verdict(base_rounds, new_rounds, base_control, new_control, threshold: float, *,
                       floor: float | None = None, elasticity: float | None = None,
                       history_runs: int | None = None) -> Verdict:
    """Two stored runs judged through their control (``compare``, :mod:`resnext_bench.bench.
    control`): each round's median is divided by the control's reading of the same round (its
    block's mean call), and
    those machine-normalized rounds are judged as :func:`unpaired_verdict` judges rounds. A
    machine that ran 13 % slower during the new run makes the configuration and the control 13 %
    slower alike, and the quotient unchanged; a change of the configuration moves it alone.
    ``floor``: a noise floor from this machine's history of the configuration (the spread of
    its earlier runs: asv's between-run noise, taken over the same normalization).
    ``elasticity`` (:func:`control_elasticity`, from ``history_runs`` earlier runs): each round is
    divided by the control's reading to that power -- the share of the control's move this
    configuration showed on this machine; None divides by the control whole."""
    beta = 1.0 if elasticity is None else float(elasticity)
    qb = np.asarray(base_rounds, dtype=np.float64) / np.asarray(base_control, dtype=np.float64) ** beta
    qn = np.asarray(new_rounds, dtype=np.float64) / np.asarray(new_control, dtype=np.float64) ** beta
    raw = float(np.median(new_rounds) / np.median(base_rounds))
    machine = float(np.median(new_control) / np.median(base_control))
    v = unpaired_verdict(qb.tolist(), qn.tolist(), qb.tolist(), qn.tolist(), threshold, floor=floor)
    change = describe_ratio(raw) if abs(raw - 1) > 0.005 else "the same"
    ctrl = describe_ratio(machine) if abs(machine - 1) > 0.005 else "the same"
    how = ("normalized by the control" if elasticity is None else
           f"normalized by the control^{beta:.2f} (this configuration's share of the control's moves "
           f"over {history_runs} earlier runs here)")
    v.notes.insert(0, f"{change}, the control {ctrl}: {how}, "
                      f"{describe_ratio(v.ratio)} -> {v.verdict.value}"
                      + (" (the machine, not the change)" if v.verdict is Outcome.UNCHANGED
                         and abs(np.log(raw)) > np.log(1 + threshold) else ""))
    v.raw_ratio, v.control_ratio = raw, machine
    return v


def paired_verdict(base_rounds, new_rounds, threshold: float, n_boot: int = BOOTSTRAP,
                   seed: int = 0) -> Verdict:
    """Both sides measured interleaved in one job (``ab``): see the module doc."""
    b = np.asarray(base_rounds, dtype=np.float64)
    n = np.asarray(new_rounds, dtype=np.float64)
    if b.size != n.size or b.size == 0:
        raise ValueError("paired rounds must be of equal, non-zero count")
    q = n / b
    ratio = float(np.median(q))
    if q.size < MIN_ROUNDS:
        v = Verdict(Outcome.INCONCLUSIVE if abs(np.log(ratio)) > np.log(1 + threshold)
                    else Outcome.UNCHANGED, ratio)
        v.notes.append(f"only {q.size} round(s): use --rounds {MIN_ROUNDS} or more")
        return v
    rng = np.random.default_rng(seed)
    boots = np.median(rng.choice(q, size=(n_boot, q.size), replace=True), axis=1)
    low, high = _interval(boots)
    return Verdict(_classify(ratio, low, high, threshold, 0.0), ratio, low, high, spread(q),
                   rounds=int(q.size))


def interleaved_verdict(base_rounds, new_rounds, threshold: float, *, busy=()) -> Verdict:
    """The one rule for two sides timed in interleaved rounds -- ``ab``, ``tune``'s elimination
    and its confirmation alike, on a quiet host or a busy one (``busy``: one note per side timed
    under contention, :func:`contended`).

    The rounds alternate between the sides with a fresh worker per side and round, so whatever
    the machine does lands on both and shows as round-to-round spread of the per-round ratios
    new/base. The interval over those ratios decides; the load only widens it:

    * the whole interval beyond the threshold: ``regression`` / ``improvement`` (``[1.83, 3.13]``
      is a regression, busy or not; a 45x slower candidate is beaten in its first stage);
    * the median ratio within the threshold: ``unchanged`` (a tie);
    * the median beyond, the interval reaching within: ``inconclusive`` with ``undecided`` set --
      the rounds have not separated the sides (more rounds may), never called a tie.
    """
    v = paired_verdict(base_rounds, new_rounds, threshold)
    busy = list(busy)
    if v.ci_low is None or v.ratio is None:  # fewer than MIN_ROUNDS rounds: no interval
        v.notes += busy
        return v
    judge_interval(v, threshold, "the contention could explain the change" if busy else
                   f"{v.rounds} rounds with a spread of {v.noise:.0%} have not separated them")
    if busy:
        v.notes += busy
        v.notes.append(f"judged under contention on {v.rounds} interleaved rounds (a fresh "
                       "worker per side and round): the interval, not the host's load, decides")
    return v


def judge_interval(v: Verdict, threshold: float, why: str) -> Verdict:
    """Set ``v.verdict`` from its ratio and interval by the rule :func:`interleaved_verdict`
    states (also for two sides that could not be paired); ``why``: what an undecided note says."""
    band = 1 + threshold
    if 1 / band <= v.ratio <= band:
        v.verdict = Outcome.UNCHANGED
    elif v.ratio > band and v.ci_low > band:
        v.verdict = Outcome.REGRESSION
    elif v.ratio < 1 / band and v.ci_high < 1 / band:
        v.verdict = Outcome.IMPROVEMENT
    else:
        v.verdict, v.undecided = Outcome.INCONCLUSIVE, True
        v.notes.insert(0, f"new is {describe_ratio(v.ratio)}, but the 95% interval "
                          f"[{v.ci_low:.3f}, {v.ci_high:.3f}] reaches within the {threshold:.0%} "
                          f"threshold: {why}")
    return v


def not_separated_text(v: Verdict) -> str:
    """How an undecided comparison is worded: never "a tie" when the point ratio is outside."""
    return (f"not separated: {describe_ratio(v.ratio)} at the median, 95% CI "
            f"[{v.ci_low:.2f}, {v.ci_high:.2f}] over {v.rounds} rounds, spread {v.noise:.0%}")


#: other processes holding at least this many CPUs during a row's blocks make the host busy.
#: Measured here (2 CPUs, one busy-loop process): a 2-thread pool's rounds saw 0.32-1.1 CPUs
#: taken (the pool takes time back from the loop), a quiet machine 0.002-0.12; a neighbour
#: spinning half of every 20 ms was seen as 0.27-0.28 CPUs and made resnext50_32x4d on 2
#: threads 1.31x slower (reports/cpu/compare-drift), so 0.3 missed it.
BUSY_CORES = 0.2
#: a pool fits beside the load when threads + load <= CPUs + this: one thread beside one busy
#: CPU of two measured 1.0-1.1 CPUs taken and even timings (1.01x, 1.04x, 0.96x same-file ab)
FIT_MARGIN = 0.25


def contention(row) -> str | None:
    """Why a CPU row's latency may be biased by other processes, or None.

    The bias needs two things (``bench/hostload.py`` has the measurement): other processes held
    ``>= BUSY_CORES`` CPUs while the row was timed, *and* the row's threads plus that load
    exceed the CPUs (by more than ``FIT_MARGIN``) -- a pool that fits beside the load
    (``--threads 1`` beside one busy CPU of two) measured even. A row's threads: the runtime's
    effective count (ort-cpu counts the pool its session created), else the asked one, else all
    usable CPUs (rows older than that count: ONNX Runtime's default is the physical cores, so
    counting logical ones errs towards flagging). GPU rows and rows without the probe: None."""
    load, cpus = getattr(row, "host_load_cores", None), getattr(row, "host_cpus", None)
    if load is None or not cpus or getattr(row, "device", "cpu") != "cpu" or load < BUSY_CORES:
        return None
    info = getattr(row, "runtime_info", None) or {}
    threads = info.get("threads_effective") or getattr(row, "threads", None) or cpus
    if threads + load <= cpus + FIT_MARGIN:
        return None
    return (f"busy host: other processes held {load:.1f} of {cpus} CPUs while "
            f"{getattr(row, 'runtime', '?')} ran {threads} thread(s); a thread pool larger than "
            "the free CPUs can bias one configuration against another (re-run on a quiet "
            "machine, or with --threads fitting the free CPUs)")


def contended(sides) -> list[str]:
    """One note per side (``(label, row)`` pairs) timed on a busy host."""
    return [f"{label}: {note}" for label, row in sides if (note := contention(row))]


def busy_host(verdict, sides) -> tuple[Outcome, list[str]]:
    """A latency verdict measured on a busy host is ``inconclusive``, whichever way it went (the
    bias can fake a change or hide one); ``sides``: (label, row) pairs. Returns the verdict and
    one note per contended side (:func:`settle`'s rule 3)."""
    notes = contended(sides)
    return settle(Outcome(verdict), busy=bool(notes)), notes


def describe_ratio(ratio: float) -> str:
    if ratio >= 1:
        return f"{ratio:.2f}x slower"
    return f"{1 / ratio:.2f}x faster"


def geometric_mean(ratios) -> float | None:
    r = np.asarray([x for x in ratios if x], dtype=np.float64)
    return float(np.exp(np.log(r).mean())) if r.size else None


def ab_judgement(pairs, threshold: float = 0.05) -> Verdict:
    """The verdict of an ``ab`` run: ``pairs`` are the (base, new) rows of its jobs, each job's
    rounds interleaved and paired within it (later jobs measured while the interval had not
    settled), pooled. Here, in core, so that the measuring loop (``bench.api.run_ab``) decides
    whether to measure another job by the same rule the report prints.

    The one rule for failures: the new side's failure (or skip) is a regression, whatever the
    base did; a base side that failed leaves the verdict unreached. Then
    :func:`interleaved_verdict` on the pooled rounds, busy or not, and a new side that fails
    parity fails the gate whether or not the base fails too (the file under review computes
    something else than the network)."""
    pairs = list(pairs)
    for b, n in pairs:
        if not n.ok:
            return Verdict(Outcome.FAILED, notes=[f"new {n.status}: {n.error}"])
        if not b.ok:
            return Verdict(Outcome.INCONCLUSIVE, notes=[f"base {b.status}: {b.error} -- nothing "
                                                        "to compare the new side with"])
    base, new = pairs[-1]
    base_rounds = [x for b, _ in pairs for x in (b.round_medians_ms or [])]
    new_rounds = [x for _, n in pairs for x in (n.round_medians_ms or [])]
    busy = contended([(f"{label}{f' (job {i + 1})' if len(pairs) > 1 else ''}", row)
                      for i, (b, n) in enumerate(pairs) for label, row in (("base", b), ("new", n))])
    v = interleaved_verdict(base_rounds, new_rounds, threshold, busy=busy)
    if len(pairs) > 1:
        v.notes.append(f"{len(pairs)} jobs of interleaved rounds pooled ({v.rounds} rounds): "
                       "the first left the interval unsettled")
    if base.extra.get("ab_threads_fitted"):
        v.notes.append(f"busy host: judged on rounds measured with --threads {base.threads} on both "
                       "sides (fitting the CPUs other processes left free); the first job, with "
                       "the default pool, is kept in results.jsonl but not judged")
    parity_broke = any(n.parity_passed is False for _, n in pairs)
    v.verdict = settle(v.verdict, parity_broke=parity_broke)
    if parity_broke:
        both = " (the base side fails too)" if any(b.parity_passed is False for b, _ in pairs) else ""
        v.notes.append(f"new side fails parity{both}: max_rel_err {new.parity_max_rel_err:.3g}, "
                       f"top-1 {new.parity_top1_agreement}")
    return v


def worth_another_job(v: Verdict, widths: list[float]) -> bool:
    """Whether ``ab`` measures another job of rounds: the verdict is undecided *and* the last
    job narrowed the interval by 10 % or more (``widths``: the earlier jobs' interval widths,
    appended to). A small model's noisy rounds otherwise spent the whole --settle-time on an
    interval that no longer moved."""
    if not v.undecided or v.ci_low is None:
        return False
    width = v.ci_high - v.ci_low
    narrowing = not widths or width < 0.9 * widths[-1]
    widths.append(width)
    return narrowing
