"""``resnext-bench ab BASE NEW``: the verdict of an A/B job, and its text / markdown / JSON.

Both sides were measured interleaved, round by round, in one job on one machine, so the
machine's drift hits them alike: the verdict (:func:`~resnext_bench.core.verdict.paired_verdict`)
works on the per-round ratios new/base. Exit codes as ``compare``: 0 no regression, 1 a
regression (slower beyond the threshold and significant, parity broken, the new side failed).
The interval decides (:func:`~resnext_bench.core.verdict.interleaved_verdict`, the rule
``tune`` judges its candidates by too), on a quiet host or a busy one
(:func:`~resnext_bench.core.verdict.contention`: the load only widens the interval): a change
whose whole interval lies beyond the threshold is judged, a median within it is unchanged; what
lies between is measured again (more jobs of rounds, pooled, within ``--settle-time``) and, if still between,
``inconclusive``. A *base* side that failed (there is nothing to compare the new side with;
the new side is not at fault) also makes the verdict ``inconclusive`` (exit 0, or 3 with
``--fail-on-inconclusive``; the first line says why). Which finding wins is
:func:`~resnext_bench.core.verdict.settle`'s one precedence. When the sides differ in more than the file
(image size, runtime settings, threads, ...), a note names each difference.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from ..core.schema import ResultRow
from ..core.verdict import Outcome, Verdict, ab_judgement, describe_ratio
from .tables import markdown_table, text_table


@dataclass
class ABResult:
    base: ResultRow
    new: ResultRow
    threshold: float
    verdict: Verdict
    notes: list[str] = field(default_factory=list)

    @property
    def is_regression(self) -> bool:
        return Outcome(self.verdict.verdict).is_regression

    @property
    def inconclusive(self) -> bool:
        return self.verdict.verdict is Outcome.INCONCLUSIVE


def ab_verdict(base: ResultRow, new: ResultRow, threshold: float = 0.05,
               earlier: list[tuple[ResultRow, ResultRow]] = ()) -> ABResult:
    """The verdict of the A/B run whose last job measured ``base`` and ``new`` (``earlier``: the
    (base, new) rows of its earlier jobs), as :func:`~resnext_bench.core.verdict.ab_judgement`
    decides it, with a note for each way the sides differ besides the file."""
    pairs = [*earlier, (base, new)]
    res = ABResult(base, new, threshold, ab_judgement(pairs, threshold))
    if all(b.ok and n.ok for b, n in pairs):
        res.notes += side_differences(base, new)
    return res


#: what two sides of an A/B job can differ in besides the file, as a note names it
_SIDE_FIELDS = (("arch", "arch"), ("form", "form"), ("runtime", "runtime"),
                ("precision", "precision"), ("batch", "batch"), ("threads", "threads"),
                ("image_size", "image size"), ("weights", "weights"))


def side_differences(base: ResultRow, new: ResultRow) -> list[str]:
    """One note per configuration field the sides differ in ("image size 224 vs 320"), the
    runtime settings, and a complexity change that none of those explains."""
    from .compare import settings_difference

    notes = []
    for attr, label in _SIDE_FIELDS:
        b, n = getattr(base, attr), getattr(new, attr)
        if b != n:
            notes.append(f"the sides differ in {label}: {b} vs {n}")
    settings = settings_difference(base, new)
    if settings:
        notes.append(f"the sides differ in runtime settings: {settings}")
    if (base.params, base.macs) != (new.params, new.macs) and base.arch == new.arch:
        notes.append(f"the sides are different networks: params {base.params} vs {new.params}, "
                     f"MACs {base.macs} vs {new.macs}")
    return notes


def _side(r: ResultRow) -> dict:
    return {"onnx_path": r.onnx_path, "onnx_sha256": r.onnx_sha256, "arch": r.arch,
            "runtime": r.runtime, "precision": r.precision, "batch": r.batch, "threads": r.threads,
            "status": r.status, "error": r.error, "latency_p50_ms": r.latency_p50_ms,
            "latency_p99_ms": r.latency_p99_ms, "throughput_ips": r.throughput_ips,
            "rounds": r.rounds, "round_medians_ms": r.round_medians_ms, "latency_n": r.latency_n,
            "host_load_cores": r.host_load_cores, "host_cpus": r.host_cpus,
            "parity_passed": r.parity_passed, "runtime_info": r.runtime_info}


def render_ab(res: ABResult, fmt: str) -> str:
    v = res.verdict
    change = "-" if v.ratio is None else describe_ratio(v.ratio)
    ci = "-" if v.ci_low is None else f"[{v.ci_low:.3f}, {v.ci_high:.3f}]"
    rounds = v.rounds if v.rounds is not None else len(res.base.round_medians_ms or [])
    if v.verdict is Outcome.UNCHANGED and v.ratio is not None:
        # within the threshold: no direction is claimed ("1.05x faster" beside a higher p50)
        what = f"new is within the {res.threshold:.0%} threshold of base (median ratio {v.ratio:.3f}x"
        headline = f"unchanged: {what}, 95% CI {ci}, {rounds} per-round ratios)"
    else:
        headline = (f"{v.verdict.value.upper() if res.is_regression else v.verdict.value}: new is "
                    f"{change} than base (median of {rounds} per-round ratios, 95% CI {ci}, "
                    f"threshold {res.threshold:.0%})")
    if fmt == "json":
        return json.dumps({"verdict": v.verdict, "is_regression": res.is_regression,
                           "ratio": v.ratio, "ci_low": v.ci_low, "ci_high": v.ci_high,
                           "threshold": res.threshold, "notes": v.notes + res.notes,
                           "base": _side(res.base), "new": _side(res.new), "detail": asdict(v)},
                          indent=2, default=str)
    heads = ["side", "file", "runtime", "batch", "p50 ms", "p99 ms", "img/s", "rounds", "parity"]
    body = [[side, str(r.onnx_path), r.runtime, str(r.batch),
             "-" if r.latency_p50_ms is None else f"{r.latency_p50_ms:.3f}",
             "-" if r.latency_p99_ms is None else f"{r.latency_p99_ms:.3f}",
             "-" if r.throughput_ips is None else f"{r.throughput_ips:.1f}",
             str(r.rounds or "-"), {True: "pass", False: "FAIL", None: "-"}[r.parity_passed]]
            for side, r in (("base", res.base), ("new", res.new))]
    notes = v.notes + res.notes
    if res.inconclusive:
        why = v.notes[0] if v.notes else "the change is within the measured noise"
        headline = f"VERDICT NOT REACHED ({why}). {headline}"
    if fmt == "md":
        out = [f"**{headline}**", "", "## resnext-bench ab", "", markdown_table(heads, body), ""]
        out += [f"- {n}" for n in notes]
        return "\n".join(out) + "\n"
    return "\n".join([headline, "", text_table(heads, body)] + [f"note: {n}" for n in notes])
