"""``TuneAnswer``: what a ``tune`` answers, as one typed value.

Built in memory from the search's standings and the confirmation's rows (:func:`answer`); the
same value is written to ``RUN_DIR/tune.json`` (:meth:`TuneAnswer.to_json`), printed
(:meth:`TuneAnswer.render`), handed to the report and the bundle, and read back by ``report``
(:meth:`TuneAnswer.from_json`). ``deployed_row`` -- the row whose figures are deployed -- stays in
memory: the bundle is packaged from it, not from the run dir read back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from ..core.pareto import pareto_front
from ..core.schema import ResultRow
from ..core.verdict import ratio_ci
from .candidates import CandidateSet
from .confirm import same_in_effect
from .search import THRESHOLD, SearchResult, metric, per_unit_rounds


@dataclass
class TuneAnswer:
    """The answer's fields, in ``tune.json``'s order (see :func:`answer` for their meaning)."""

    objective: str
    constraints: dict
    found: bool
    stopped: str | None = None
    seconds: float = 0.0
    plan: dict | None = None
    candidates: int = 0
    excluded_before_measuring: list = field(default_factory=list)
    precisions_worth_trying: list = field(default_factory=list)
    cpus: Any = None
    stages: list = field(default_factory=list)
    standings: list = field(default_factory=list)
    searched_pick: str | None = None
    ties: list = field(default_factory=list)
    tie_break: str | None = None
    not_separated: list = field(default_factory=list)
    pareto_front: list = field(default_factory=list)
    winner: dict | None = None
    vs_default: dict | None = None
    pick_rejected: dict | None = None
    alternatives: list = field(default_factory=list)
    #: None: no default was measured beside the pick (the key is then left out of the JSON)
    winner_is_default: bool | None = None
    wall_seconds: float | None = None
    bundle: str | None = None
    #: under load (--concurrency): {concurrency, chosen, curve (auto), rule (auto)}; None: one caller
    load: dict | None = None
    #: the deployed configuration's row (the confirmation's where there was one); not written
    deployed_row: ResultRow | None = field(default=None, repr=False, compare=False)

    _OPTIONAL = ("winner_is_default", "wall_seconds", "bundle", "load")

    def to_json(self) -> dict:
        out = {}
        for f in fields(self):
            if f.name == "deployed_row":
                continue
            v = getattr(self, f.name)
            if v is None and f.name in self._OPTIONAL:
                continue
            out[f.name] = v
        return out

    @classmethod
    def from_json(cls, data: dict) -> "TuneAnswer":
        names = {f.name for f in fields(cls)} - {"deployed_row"}
        return cls(**{k: v for k, v in data.items() if k in names})

    def render(self) -> str:
        """The answer in a few lines: the pick, how much better than the default, ties, the front."""
        return _render(self.to_json())

    def bundle_metrics(self) -> dict:
        """What the bundle's ``metrics.json`` says: the deployed figures and how they were judged."""
        return {"winner": self.winner["measured"], "parity": self.winner["parity"],
                "vs_default": self.vs_default, "objective": self.objective,
                "constraints": self.constraints, "stopped": self.stopped,
                "pick_rejected": self.pick_rejected, "ties": self.ties,
                "tie_break": self.tie_break, "not_separated": self.not_separated}


def _speedup(winner: ResultRow, base: ResultRow | None, objective: str) -> dict | None:
    """Winner against the default configuration, both from the winner's last stage."""
    if base is None or not base.ok:
        return None
    w_rounds, b_rounds = per_unit_rounds(winner, objective), per_unit_rounds(base, objective)
    if not w_rounds or not b_rounds:
        return None
    ratio, low, high = ratio_ci(w_rounds, b_rounds)
    from ..core.verdict import contention

    busy = [f"{side}: {why}" for side, row in (("the default", base), ("the pick", winner))
            if (why := contention(row))]
    return {"times_faster": ratio, "ci": [low, high], "busy_host": busy,
            "same_stage": winner.extra.get("tune_stage") == base.extra.get("tune_stage"),
            "default": f"{base.runtime} {base.precision}, batch {base.batch}, default threads",
            "default_p50_ms": base.latency_p50_ms, "default_throughput_ips": base.throughput_ips,
            "default_parity_passed": base.parity_passed}


def _row_summary(r: ResultRow) -> dict:
    return {"config_key": r.config_key, "runtime": r.runtime, "precision": r.precision,
            "batch": r.batch, "threads": r.threads, "settings": r.settings,
            "latency_p50_ms": r.latency_p50_ms, "latency_p99_ms": r.latency_p99_ms,
            "throughput_ips": r.throughput_ips, "rounds": r.rounds,
            "round_spread": r.round_spread, "tune_stage": r.extra.get("tune_stage")}


def alternatives(res: SearchResult, winner: ResultRow | None, objective: str) -> list[dict]:
    """What the user gives up: the best candidate of every other precision and every other
    runtime (not out), with its ratio to the pick from the stage that last measured it, and
    whether its accuracy was measured."""
    if winner is None:
        return []
    rows = [s.row for k, s in res.standings.items() if s.row is not None and s.status != "out"
            and k != res.winner and k != res.baseline and s.row.ok]
    out = []
    for axis, value_of in (("precision", lambda r: r.precision), ("runtime", lambda r: r.runtime)):
        for value in sorted({value_of(r) for r in rows} - {value_of(winner)}):
            best = min((r for r in rows if value_of(r) == value), key=lambda r: metric(r, objective))
            ratio = metric(best, objective) / metric(winner, objective)
            out.append({"axis": axis, "value": value, "config_key": best.config_key,
                        "times_slower_than_pick": round(ratio, 3),
                        "same_stage": best.extra.get("tune_stage") == winner.extra.get("tune_stage"),
                        "accuracy_drop": best.accuracy_top1_drop,
                        "parity_passed": best.parity_passed})
    return out


def _default_answer(base: ResultRow, note: str) -> dict:
    return {"ratio": 1.0, "ci": [1.0, 1.0], "verdict": "same", "paired": True, "rounds": 0,
            "notes": [note], "default": f"{base.runtime} {base.precision}, batch {base.batch}, "
                                        "default threads", "default_p50_ms": base.latency_p50_ms}


def answer(res: SearchResult, cs: CandidateSet, objective: str, constraints: dict,
           confirmation: dict | None = None, plan: dict | None = None) -> TuneAnswer:
    """The tune's answer as data: the deployment, the ratio to the default, ties, candidates
    not separated, the front, and every candidate's fate with its reason.

    The deployment is the confirmation's: the pick is deployed only when the paired
    confirmation measured it *faster* than the default; otherwise the answer is the default
    (``pick_rejected`` says what the pick measured). The deployed figures are the
    confirmation's row, the same in the console, ``tune.json``, the bundle and the report."""
    from ..reports.deploy import deployment

    rows = {k: s.row for k, s in res.standings.items() if s.row is not None}
    searched = rows.get(res.winner) if res.winner else None
    base = rows.get(res.baseline) if res.baseline else None
    passing = [r for r in rows.values() if r.ok and r.parity_passed and r.latency_p50_ms
               and r.throughput_ips and res.standings[r.config_key].status != "out"]
    winner, default_won, rejected, vs = searched, False, None, None
    if searched is not None and base is not None:
        vs = _speedup(searched, base, objective)
        default_won = res.winner == res.baseline or same_in_effect(searched, base)
        if default_won:
            vs = _default_answer(base, "the pick is the default configuration in effect: "
                                       "nothing to change")
        elif confirmation is not None:
            unpaired = vs or {}
            vs = {k: v for k, v in confirmation.items() if not k.endswith("_row")} | {
                "default": unpaired.get("default"),
                "default_p50_ms": (confirmation["default_row"].latency_p50_ms
                                   if confirmation.get("default_row") else None),
                "search_ratio_unpaired": unpaired.get("times_faster")}
            if confirmation["verdict"] == "faster":
                winner = confirmation["pick_row"]
            else:  # not deployed: the default is the answer, and the pick's figures are said
                rejected = {"config_key": res.winner, "verdict": confirmation["verdict"],
                            "ratio": confirmation["ratio"], "ci": confirmation["ci"],
                            "rounds": confirmation["rounds"],
                            "load_dependence": confirmation.get("load_dependence")}
                winner = confirmation.get("default_row") or base
                default_won = True
    if confirmation is not None:  # one figure per configuration: the confirmation's rows
        for row in (confirmation.get("pick_row"), confirmation.get("default_row")):
            if row is not None and row.ok:
                rows[row.config_key] = row
        passing = [rows[r.config_key] for r in passing]
    out = TuneAnswer(**{
        "objective": objective, "constraints": constraints, "found": winner is not None,
        "stopped": res.stopped, "seconds": round(res.seconds, 1), "plan": plan,
        "candidates": len(cs.candidates), "excluded_before_measuring": [
            {"what": w, "why": why} for w, why in cs.excluded],
        "precisions_worth_trying": cs.precisions, "cpus": cs.cpus,
        "stages": [{"index": s.index, "kind": s.kind, "members": s.members,
                    "seconds": round(s.seconds, 1), "timing": s.timing, "beaten": s.beaten,
                    "out": s.out, "load_cores": s.load_cores} for s in res.stages],
        "standings": [{"config_key": k, "status": s.status, "relation": s.relation,
                       "reason": s.reason, "stage": s.stage, "ratio_to_best": s.ratio,
                       "ci": s.ci, "baseline": k == res.baseline}
                      for k, s in sorted(res.standings.items(),
                                         key=lambda kv: metric(kv[1].row, objective) if kv[1].row else math.inf)],
        "searched_pick": res.winner,
        "ties": [_row_summary(rows[k]) | {"ratio_to_best": res.standings[k].ratio,
                                          "ci": res.standings[k].ci} for k in res.ties],
        "tie_break": res.tie_break if res.ties else None,
        "not_separated": [{"config_key": k, "why": res.standings[k].reason,
                           "ratio_to_best": res.standings[k].ratio, "ci": res.standings[k].ci}
                          for k in res.unseparated],
        "pareto_front": [_row_summary(r) for r in pareto_front(passing)],
        "winner": deployment(winner) if winner else None,
        "vs_default": vs,
        "pick_rejected": rejected,
        "alternatives": alternatives(res, searched, objective),
        "winner_is_default": default_won if winner is not None and base is not None else None,
    }, deployed_row=winner)
    return out


def describe_vs_default(v: dict, latency: bool = True) -> str:
    """The headline against the default, worded by the confirmation's verdict."""
    ci = f"95% CI [{v['ci'][0]:.2f}, {v['ci'][1]:.2f}]" if v.get("ci") else "no interval"
    how = (f"paired: {v['rounds']} interleaved rounds with the default ({v.get('default')}, "
           f"p50 {v['default_p50_ms']:.2f} ms), {ci}" if v.get("default_p50_ms") else
           f"paired: {v['rounds']} interleaved rounds, {ci}")
    if v["verdict"] == "faster":
        return f"{v['ratio']:.2f}x {'faster' if latency else 'more throughput'} than the default ({how})"
    if v["verdict"] == "slower":
        return (f"{1 / v['ratio']:.2f}x {'slower' if latency else 'less throughput'} than the "
                f"default ({how}): keep the default")
    if v["verdict"] == "same":
        return f"no measurable difference from the default ({how}): keep the default"
    return f"inconclusive against the default ({how})"


def _render(result: dict) -> str:
    lines = []
    w = result.get("winner")
    n_out = sum(s["status"] == "out" for s in result["standings"])
    n_beaten = sum(s["status"] == "beaten" for s in result["standings"])
    lines.append(f"tune ({result['objective']} objective): {result['candidates']} candidate(s), "
                 f"{len(result['stages'])} stage(s) in {result['seconds']:.0f} s; {n_beaten} "
                 f"beaten beyond the noise, {n_out} out; stopped: {result['stopped']}")
    if not w:
        lines.append("no candidate meets the constraints:")
        lines += [f"  {s['config_key']}: {s['reason']}" for s in result["standings"] if s["reason"]]
        return "\n".join(lines)
    m = w["measured"]
    settings = ", ".join(f"{k}={v}" for k, v in (w.get("settings") or {}).items())
    lines.append(f"deploy: {w['arch']} on {w['runtime']} ({w['device']}), {w['precision']}, batch "
                 f"{w['batch']}, threads {w['threads'] if w['threads'] is not None else 'default'}"
                 + (f", {settings}" if settings else "")
                 + (" -- the default configuration" if result.get("winner_is_default") else ""))
    served = result.get("load")
    if served:
        limit = result["constraints"].get("max_latency_ms")
        lines.append(f"  under {served['concurrency']} concurrent client(s) sending single-image "
                     f"requests ({served['chosen']}): per request p50 {m['latency_p50_ms']:.2f} ms, "
                     f"p99 {m['latency_p99_ms']:.2f} ms"
                     + (f" (limit {limit:g} ms" + (": over it by the point estimate, within "
                                                      "the p99's sampling error" if
                                                      m['latency_p99_ms'] > limit else "") + ")"
                        if limit is not None else "")
                     + f", {m['throughput_ips']:.1f} img/s served ({m['rounds']} rounds)")
        for c in served.get("curve") or []:
            if c["ok"]:
                lines.append(f"    the default at {c['concurrency']} client(s): "
                             f"{c['throughput_ips']:.1f} img/s, p99 {c['latency_p99_ms']:.1f} ms")
    else:
        lines.append(f"  measured p50 {m['latency_p50_ms']:.2f} ms, p99 {m['latency_p99_ms']:.2f} ms, "
                     f"{m['throughput_ips']:.1f} img/s ({m['rounds']} rounds, spread "
                     f"{(m['round_spread'] or 0):.1%})")
    p = w["parity"]
    def num(v, spec):
        return "-" if v is None else format(v, spec)

    lines.append(f"  parity pass: cosine {num(p.get('cosine'), '.5f')}, top-1 agreement "
                 f"{num(p.get('top1_agreement'), '.3f')}, max_rel_err {num(p.get('max_rel_err'), '.2e')}"
                 f" on {p.get('inputs') or 'seeded inputs'}; weights {p.get('weights')}")
    acc = w.get("accuracy")
    if acc:
        ci = acc.get("top1_drop_ci")
        lines.append(f"  accuracy: top-1 {acc['top1']:.1%} on {acc.get('images') or '?'} labeled "
                     f"images, drop {acc['top1_drop_points']:+.2f} points against torch fp32"
                     + (f" (95% CI [{ci[0]:+.2f}, {ci[1]:+.2f}])" if ci else ""))
    v = result.get("vs_default")
    latency = result["objective"] == "latency"
    rejected = result.get("pick_rejected")
    if rejected:
        r_ci = rejected.get("ci") or [None, None]
        ratio = rejected.get("ratio")
        said = ("measured" if ratio is None else
                f"measured {ratio:.2f}x the default's speed" + (
                    f" (95% CI [{r_ci[0]:.2f}, {r_ci[1]:.2f}])" if r_ci[0] is not None else ""))
        lines.append(f"  the search's pick {rejected['config_key']} {said} in the paired "
                     f"confirmation ({rejected['rounds']} interleaved rounds): "
                     f"{rejected['verdict']}, so it is not deployed -- the answer is the default")
        if rejected.get("load_dependence"):
            lines.append(f"    {rejected['load_dependence']}")
    elif result.get("winner_is_default"):
        lines.append(f"  this is the default configuration ({v['default']}) in effect: no candidate "
                     "measured faster beyond the noise -- keep the default")
    elif v and v.get("paired"):
        lines.append("  " + describe_vs_default(v, latency))
        for note in v.get("notes") or []:
            lines.append(f"    note: {note.split(' (re-run')[0]}")
    elif v:
        lines.append(f"  {v['times_faster']:.2f}x the default's speed in the search (unpaired, "
                     f"95% CI [{v['ci'][0]:.2f}, {v['ci'][1]:.2f}]); not confirmed")
    for alt in result.get("alternatives") or []:
        acc = ("accuracy not measured: give a labeled --images folder" if alt["accuracy_drop"] is None
               else f"accuracy drop {alt['accuracy_drop']:+.2f} points")
        lines.append(f"  best {alt['axis']} {alt['value']}: {alt['config_key']}, "
                     f"{alt['times_slower_than_pick']:.2f}x the pick's "
                     f"{'latency' if latency else 'time per image'} ({acc})")
    if w.get("artifact"):
        a = w["artifact"]
        lines.append(f"  artifact: {a['path']} (sha256 {str(a['sha256'])[:16]}...)")
    lines.append(f"  re-create: {w['export_command']}")
    if result["ties"]:
        lines.append(f"  a tie: {len(result['ties'])} candidates within the {THRESHOLD:.0%} "
                     f"threshold of each other in interleaved rounds, settled by the tie-break "
                     f"({result['tie_break']}):")
        lines += [f"    {t['config_key']}: p50 {t['latency_p50_ms']:.2f} ms ("
                  + ("the confirmation" if t.get("tune_stage") == "confirm"
                     else f"stage {t.get('tune_stage')}")
                  + (f"; {t['ratio_to_best']:.3f}x the best, paired" if t.get("ratio_to_best") else "")
                  + ")" for t in result["ties"]]
    if result.get("not_separated"):
        lines.append(f"  not separated from the search's pick ({len(result['not_separated'])}; "
                     "more rounds may separate them):")
        lines += [f"    {n['config_key']}: {n['why'].removeprefix('not separated: ')}"
                  for n in result["not_separated"][:8]]
    front = result["pareto_front"]
    if front:
        lines.append("  Pareto front (p50 latency vs throughput, parity passing):")
        lines += [f"    {r['config_key']}: p50 {r['latency_p50_ms']:.2f} ms, "
                  f"{r['throughput_ips']:.1f} img/s" for r in front[:6]]
    if result.get("bundle"):
        lines.append(f"  bundle: {result['bundle']} (python {result['bundle']}/run.py)")
    return "\n".join(lines)
