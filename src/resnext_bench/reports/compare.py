"""``resnext-bench compare BASE NEW``: compare two stored runs config by config.

Rows are matched by config key. The latency verdict is :func:`~resnext_bench.core.verdict.
unpaired_verdict`: a change counts only beyond both the threshold and the runs' own
between-round noise (see there). For a CI gate prefer ``resnext-bench ab``, which measures both
sides interleaved in one job; ``compare`` is for history.

Regressions (exit 1): a significant slowdown; with ``--p99-threshold`` a p99 slowdown, with
``--throughput-threshold`` a throughput drop (both beyond the noise too); parity pass -> fail;
ok -> failed (the *last* row of the new run counts, so a later failure is not hidden behind an
earlier ok row); ok -> skipped; a config missing from the new run (``--allow-missing`` to
accept). Reported, not regressions: complexity changed (params/MACs differ: timings are not
comparable), parity error growth, new configs, ``settings_changed`` (a config of the base run
and one of the new run that differ only in runtime settings, e.g. the graph optimization level:
paired, timed, and the settings named, since the change is the settings' and not the code's),
``inconclusive`` (too few rounds to tell, or a side timed on a busy host:
:func:`~resnext_bench.core.verdict.contention`). ``--fail-on-inconclusive`` makes an
inconclusive row exit 3 (a regression's 1 comes first), so a CI job on a noisy runner can refuse
to pass what it could not measure.
When the runs' environments differ (CPU or GPU model, runtime versions, threads) a warning says
so: their ratios mix the code with the machine.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from ..core.rundir import ENV_COMPARE_KEYS, RunData, latest, read_timing_history
from ..core.schema import ResultRow
from ..core.stats import min_samples_for
from ..core.verdict import (BUSY_CORES, TIMING_REGRESSIONS, Outcome, contended, controlled_verdict,
                            control_elasticity, describe_ratio, geometric_mean, history_floor, settle,
                            unpaired_verdict)
from .tables import markdown_table, text_table


@dataclass
class RowComparison:
    key: str
    verdict: Outcome
    ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    noise: float | None = None
    base_p50_ms: float | None = None
    new_p50_ms: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def is_regression(self) -> bool:
        return Outcome(self.verdict).is_regression


@dataclass
class Comparison:
    rows: list[RowComparison]
    threshold: float
    env_differences: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[RowComparison]:
        return [c for c in self.rows if c.is_regression]

    @property
    def inconclusive(self) -> list[RowComparison]:
        return [c for c in self.rows if c.verdict is Outcome.INCONCLUSIVE]

    @property
    def geomean(self) -> float | None:
        return geometric_mean(c.ratio for c in self.rows if c.verdict is not Outcome.MODEL_CHANGED)


def _samples(row: ResultRow):
    if row.samples_ms:
        return row.samples_ms
    return [row.latency_p50_ms] if row.latency_p50_ms is not None else None


def _gate(c: RowComparison, gates: list, name: Outcome, ratio: float, threshold: float | None,
          noise: float, what: str) -> None:
    """An extra gate (p99, throughput): slower by more than its threshold and the noise."""
    if threshold is None or c.verdict is Outcome.REGRESSION or gates:
        return
    if ratio > 1 + max(threshold, noise):
        gates.append(name)
        c.notes.append(f"{what} {describe_ratio(ratio)} (gate {threshold:.0%}, noise {noise:.0%})")


#: the most the control may move between the rounds of a run for ``compare`` to divide by it
#: whole, before this machine's history says how far the configuration follows it: a yardstick
#: noisier than what it measures adds noise. Measured on this project's 2-vCPU KVM Xeon: the
#: 2-thread control moved 8 % (sd) between rounds in a quiet hour while resnext50 moved 0.7 %
#: (``reports/cpu/compare-drift/control-tracking``): there it counts once the history has
#: weighed it
CONTROL_MAX_SPREAD = 0.05


def control_problem(b: ResultRow, n: ResultRow, *, learned: bool = False) -> str | None:
    """Why the control cannot judge this pair (None: it can): both rows must carry the same
    control (version, threads), one reading per round and, unless this machine's history has
    ``learned`` how far the configuration follows it (:func:`~resnext_bench.core.verdict.
    control_elasticity`: a noisy control gets a small share by itself), each moving at most
    :data:`CONTROL_MAX_SPREAD` between its run's rounds."""
    from ..core.stats import spread

    if not (b.control_rounds_ms and n.control_rounds_ms):
        return ("no control in " + ("either run" if not (b.control_rounds_ms or n.control_rounds_ms)
                                    else "both runs") + ": the machine's drift between the runs is not divided out")
    if not (b.round_medians_ms and n.round_medians_ms and b.control_version == n.control_version
            and b.control_threads == n.control_threads
            and len(b.control_rounds_ms) == len(b.round_medians_ms)
            and len(n.control_rounds_ms) == len(n.round_medians_ms)):
        return ("the runs' controls differ (version, threads or rounds): the drift between the "
                "runs is not divided out")
    worst = max(spread(b.control_rounds_ms), spread(n.control_rounds_ms))
    if worst > CONTROL_MAX_SPREAD and not learned:
        return (f"the control moved {worst:.0%} between a run's rounds (more than "
                f"{CONTROL_MAX_SPREAD:.0%}): too noisy a yardstick here, not divided out")
    return None


def floors_from_history(history: list[dict] | None) -> dict:
    """{config key: {"raw": floor, "controlled": {(control version, threads): {"floor", "elasticity",
    "runs"}}}} from this machine's timing history (``measured-times.jsonl``): the spread of each
    configuration's earlier runs (:func:`~resnext_bench.core.verdict.history_floor`) over their
    raw times (used when a pair is not judged through the control) and, per control, the
    configuration's elasticity to it (:func:`~resnext_bench.core.verdict.control_elasticity`)
    and the spread of its times normalized by the control to that power (used when it is: the
    drift the control removes is not noise). A floor is None where too few runs were recorded.
    Runs timed beside other processes (``host_load_cores`` at least ``BUSY_CORES``) are left out:
    they say how a busy machine moves, not how a quiet one's runs spread."""
    by_key: dict[str, list[dict]] = {}
    for h in history or []:
        if isinstance(h, dict) and isinstance(h.get("key"), str) and not _busy_entry(h):
            by_key.setdefault(h["key"], []).append(h)
    out = {}
    for key, runs in by_key.items():
        per_control: dict[tuple, list[tuple[float, float]]] = {}
        for h in runs:
            p50, ctrl = h.get("p50_ms"), h.get("control_ms")
            if isinstance(p50, (int, float)) and isinstance(ctrl, (int, float)) and p50 > 0 and ctrl > 0:
                per_control.setdefault((h.get("control_version"), h.get("control_threads")), []).append((p50, ctrl))
        controlled = {}
        for control, pairs in per_control.items():
            p50s, ctrls = zip(*pairs)
            beta = control_elasticity(p50s, ctrls)
            normalized = [p / c ** (1.0 if beta is None else beta) for p, c in pairs]
            controlled[control] = {"floor": history_floor(normalized), "elasticity": beta, "runs": len(pairs)}
        raw = [h["mean_ms"] for h in runs if isinstance(h.get("mean_ms"), (int, float))]
        out[key] = {"controlled": controlled, "raw": history_floor(raw)}
    return out


def _busy_entry(h: dict) -> bool:
    load = h.get("host_load_cores")
    return isinstance(load, (int, float)) and load >= BUSY_CORES


def compare_pair(key: str, b: ResultRow, n: ResultRow, threshold: float, *,
                 p99_threshold: float | None = None,
                 throughput_threshold: float | None = None, floors: dict | None = None) -> RowComparison:
    if not n.ok:
        if b.ok:
            verdict = Outcome.FAILED if n.status == "failed" else Outcome.SKIPPED_NOW
            return RowComparison(key, verdict, notes=[f"now {n.status}: {n.error}"])
        return RowComparison(key, Outcome.SKIPPED, notes=[f"base {b.status}, new {n.status}"])
    if not b.ok:
        return RowComparison(key, Outcome.NEW, notes=[f"base {b.status}, now ok"])
    c = RowComparison(key, Outcome.UNCHANGED, base_p50_ms=b.latency_p50_ms, new_p50_ms=n.latency_p50_ms)
    bs, ns = _samples(b), _samples(n)
    gates: list[Outcome] = []
    busy: list[str] = []
    if bs and ns:
        floor = (floors or {}).get(key) or {}
        known = (floor.get("controlled") or {}).get((n.control_version, n.control_threads)) or {}
        why_not = control_problem(b, n, learned=known.get("elasticity") is not None)
        if why_not is None:  # judged through the control: the machine's drift divided out
            v = controlled_verdict(b.round_medians_ms, n.round_medians_ms, b.control_rounds_ms,
                                   n.control_rounds_ms, threshold, floor=known.get("floor"),
                                   elasticity=known.get("elasticity"), history_runs=known.get("runs"))
        else:
            v = unpaired_verdict(bs, ns, b.round_medians_ms, n.round_medians_ms, threshold,
                                 floor=floor.get("raw"))
            if b.round_medians_ms and n.round_medians_ms and len(b.round_medians_ms) > 1:
                v.notes.append(why_not)
        c.verdict, c.ratio, c.ci_low, c.ci_high, c.noise = v.verdict, v.ratio, v.ci_low, v.ci_high, v.noise
        c.notes += v.notes
        noise = v.noise or 0.0
        if p99_threshold is not None:
            if min(b.latency_n or 0, n.latency_n or 0) < min_samples_for(99):
                c.notes.append(f"p99 not gated: fewer than {min_samples_for(99)} samples "
                               "(a p99 that close to the maximum is noise)")
            else:
                _gate(c, gates, Outcome.P99_REGRESSION, n.latency_p99_ms / b.latency_p99_ms,
                      p99_threshold, noise, "p99")
        if throughput_threshold is not None and b.throughput_ips and n.throughput_ips:
            _gate(c, gates, Outcome.THROUGHPUT_REGRESSION, b.throughput_ips / n.throughput_ips,
                  throughput_threshold, noise, "throughput")
        busy = contended((("base", b), ("new", n)))
        c.notes += busy
    model_changed = (b.params, b.macs) != (n.params, n.macs)
    if model_changed:  # timings of two different networks: not a regression
        c.notes.append(f"complexity changed: params {b.params} -> {n.params}, MACs {b.macs} -> {n.macs}")
    parity_broke = b.parity_passed is True and n.parity_passed is False
    c.verdict = settle(c.verdict, gates=gates, busy=bool(busy), model_changed=model_changed,
                       parity_broke=parity_broke)
    if parity_broke:
        c.notes.append(f"parity broke: max_rel_err {b.parity_max_rel_err:.3g} -> "
                       f"{n.parity_max_rel_err:.3g}, top-1 {b.parity_top1_agreement} -> "
                       f"{n.parity_top1_agreement}")
    elif b.parity_max_rel_err is not None and n.parity_max_rel_err is not None:
        be, ne = b.parity_max_rel_err, n.parity_max_rel_err
        if ne > 2 * be and ne - be > 1e-6:
            c.notes.append(f"parity error grew {be:.3g} -> {ne:.3g}")
    return c


def settings_difference(b: ResultRow, n: ResultRow) -> str:
    """``graph_opt_level all (default) -> disable``: the settings two rows differ in."""
    from ..config import default_of

    parts = []
    for name in sorted(set(b.settings) | set(n.settings)):
        dv = default_of(name)
        bv, nv = b.settings.get(name, dv), n.settings.get(name, dv)
        if bv != nv:
            tag = lambda v: f"{v} (default)" if v == dv else str(v)  # noqa: E731
            parts.append(f"{name} {tag(bv)} -> {tag(nv)}")
    return "; ".join(parts)


def _pair_by_settings(base: dict, new: dict) -> list[tuple[str, str]]:
    """(base key, new key) of rows found on one side only that share the key without settings,
    one on each side: the same configuration with other runtime settings."""
    only_b = [k for k in base if k not in new]
    only_n = [k for k in new if k not in base]
    pairs = []
    for bk in only_b:
        same = [nk for nk in only_n if new[nk].base_key == base[bk].base_key]
        others = [k for k in only_b if base[k].base_key == base[bk].base_key]
        if len(same) == 1 and len(others) == 1:
            pairs.append((bk, same[0]))
    return pairs


def compare_rows(base_rows: list[ResultRow], new_rows: list[ResultRow], threshold: float = 0.05, *,
                 allow_missing: bool = False, p99_threshold: float | None = None,
                 throughput_threshold: float | None = None,
                 history: list[dict] | None = None) -> list[RowComparison]:
    floors = floors_from_history(history)
    base = {r.config_key: r for r in latest(base_rows)}
    new = {r.config_key: r for r in new_rows}  # the last row per key: a later failure counts
    out = []
    for bk, nk in _pair_by_settings(base, new):
        b, n = base.pop(bk), new.pop(nk)
        c = compare_pair(b.base_key, b, n, threshold)
        c.notes.insert(0, f"settings changed: {settings_difference(b, n)} (the timing change is "
                          "the settings', not a regression)")
        if not c.is_regression or c.verdict in TIMING_REGRESSIONS:
            c.verdict = Outcome.SETTINGS_CHANGED
        out.append(c)
    for key in sorted(set(base) | set(new)):
        b, n = base.get(key), new.get(key)
        if n is None:
            out.append(RowComparison(key, Outcome.MISSING_ALLOWED if allow_missing else Outcome.MISSING,
                                     notes=["in base, not in new run"
                                            + (" (allowed)" if allow_missing else "")]))
        elif b is None:
            out.append(RowComparison(key, Outcome.NEW, notes=["not in base run"]))
        else:
            out.append(compare_pair(key, b, n, threshold, p99_threshold=p99_threshold,
                                    throughput_threshold=throughput_threshold, floors=floors))
    return out


def env_differences(base_env: dict, new_env: dict) -> list[str]:
    """One line per environment setting that differs between two runs."""
    out = []
    for k in ENV_COMPARE_KEYS:
        a, b = base_env.get(k), new_env.get(k)
        if a != b and (a is not None or b is not None):
            out.append(f"{k}: {a} -> {b}")
    return out


def machine_history(run: RunData, node: str | None = None) -> list[dict]:
    """This machine's timing history (``measured-times.jsonl`` in the artifacts dir the run
    used), its entries of this node only; empty where there is none."""
    artifacts = ((run.env or {}).get("config") or {}).get("artifacts")
    return read_timing_history(artifacts, node) if isinstance(artifacts, str) else []


def compare_runs(base: RunData, new: RunData, threshold: float = 0.05, *, history=None,
                 **kw) -> Comparison:
    """``history``: this machine's timing entries (default: those of the new run's artifacts
    dir, :func:`machine_history`; ``[]`` for none)."""
    if history is None:
        history = machine_history(new)
    return Comparison(compare_rows(base.rows, new.rows, threshold, history=history, **kw), threshold,
                      env_differences(base.env, new.env))


def _cells(c: RowComparison) -> list[str]:
    return [c.key, c.verdict.value.upper() if c.is_regression else c.verdict.value,
            "-" if c.base_p50_ms is None else f"{c.base_p50_ms:.3f}",
            "-" if c.new_p50_ms is None else f"{c.new_p50_ms:.3f}",
            "-" if c.ratio is None else describe_ratio(c.ratio),
            "-" if c.ci_low is None else f"[{c.ci_low:.3f}, {c.ci_high:.3f}]",
            "-" if c.noise is None else f"{c.noise:.1%}",
            "; ".join(c.notes)]


HEADS = ["config", "verdict", "base p50 ms", "new p50 ms", "change", "95% CI of ratio",
         "round noise", "notes"]


def summary_line(cmp: Comparison) -> str:
    n_reg = len(cmp.regressions)
    gm = cmp.geomean
    return (f"{n_reg} regression(s), {len(cmp.inconclusive)} inconclusive among {len(cmp.rows)} "
            f"configs (threshold {cmp.threshold:.0%}; a slowdown counts beyond both the threshold "
            "and the runs' between-round noise)"
            + (f"; geometric mean of ratios: {describe_ratio(gm)}" if gm else ""))


def inconclusive_line(cmp: Comparison) -> str | None:
    """The first line of a report whose verdict could not be reached, saying why."""
    rows = cmp.inconclusive
    if not rows:
        return None
    why = "; ".join(f"{c.key}: {c.notes[0] if c.notes else 'within noise'}" for c in rows[:3])
    more = f" (and {len(rows) - 3} more)" if len(rows) > 3 else ""
    return (f"VERDICT NOT REACHED for {len(rows)} of {len(cmp.rows)} configs: the change could "
            f"not be told from the measured noise -- {why}{more}")


def render(cmp: Comparison, fmt: str, *, hide_unchanged: bool = False) -> str:
    shown = [c for c in cmp.rows if not (hide_unchanged and c.verdict is Outcome.UNCHANGED)]
    warning = ("WARNING: the runs' environments differ, so ratios mix the code with the machine: "
               + "; ".join(cmp.env_differences)) if cmp.env_differences else None
    not_reached = inconclusive_line(cmp)
    if fmt == "json":
        return json.dumps({"threshold": cmp.threshold, "regressions": len(cmp.regressions),
                           "inconclusive": len(cmp.inconclusive), "verdict_not_reached": not_reached,
                           "geomean_ratio": cmp.geomean, "env_differences": cmp.env_differences,
                           "rows": [asdict(c) | {"is_regression": c.is_regression} for c in shown]},
                          indent=2)
    summary = summary_line(cmp)
    if fmt == "md":
        changed = [c for c in cmp.rows if c.verdict is not Outcome.UNCHANGED]
        out = ([f"**{not_reached}**", ""] if not_reached else []) + [
            "## resnext-bench compare", "", f"**{summary}**", ""]
        if warning:
            out += [f"> {warning}", ""]
        if changed:
            out += [markdown_table(HEADS, [_cells(c) for c in changed]), ""]
        if not hide_unchanged:
            out += [f"<details><summary>all {len(cmp.rows)} configs</summary>", "",
                    markdown_table(HEADS, [_cells(c) for c in cmp.rows]), "", "</details>", ""]
        return "\n".join(out)
    lines = ([not_reached, ""] if not_reached else []) + [
        text_table(HEADS, [_cells(c) for c in shown]), "", summary]
    return "\n".join(lines + ([warning] if warning else []))

