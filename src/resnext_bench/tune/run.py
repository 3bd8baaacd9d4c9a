"""``resnext-bench tune``: candidates from the machine, the staged search, the answer, the bundle.

Every stage's rows go to the run dir like any run's (each with ``tune_stage``), so ``report``,
``compare`` and ``recommend`` read a tune; the search's record and the answer are written to
``RUN_DIR/tune.json`` and the packaged answer to ``RUN_DIR/bundle/``.

The budget counts from the call (:func:`_plan`: refused up front when this machine's history
says the race and the confirmation cannot fit; the trained reference's training inside it,
:mod:`.training`). The search's pick is confirmed against the default, paired
(:func:`.confirm.confirm`), and deployed only when confirmed faster; otherwise the default is the
answer and the pick's measurement is said (:func:`answer`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

from ..config import RunConfig, cli_flag
from ..core.errors import UsageError
from ..core.fileio import write_json_atomic
from ..core.pareto import pareto_front
from ..core.rundir import RESULTS, load_run, run_dir_lock
from ..core.schema import ResultRow
from ..core.verdict import ratio_ci
from .candidates import CandidateSet, candidates
from .confirm import CONFIRM_ROUNDS, CONFIRM_TIMING, confirm, load_dependence, same_in_effect
from .search import THRESHOLD, SearchResult, metric, search


#: the parity images a tune judges on unless told otherwise: what to ship is judged on natural
#: images -- on seeded noise the default weights decide near ties (no trained net is confident
#: on noise), and an int8 file calibrated on photos would meet inputs it never saw
TUNE_PARITY_IMAGES = "builtin"


MAX_BUDGET_MINUTES = 1440


def check_tune_args(objective, budget_minutes, batch, max_latency_ms, min_throughput,
                    max_accuracy_drop, images=None) -> None:
    """The constraints as ``recommend`` checks them, plus the budget, ``--batch auto`` and the
    labeled images an accuracy bound needs (refused before anything is measured)."""
    from ..reports.recommend import check_constraints

    check_constraints(max_latency_ms=max_latency_ms, min_throughput=min_throughput,
                      objective=objective, max_accuracy_drop=max_accuracy_drop)
    if max_accuracy_drop is not None and not images:
        raise UsageError("--max-accuracy-drop needs a labeled --images folder (class subfolders, "
                         "e.g. --images digits): accuracy cannot be measured without labels")
    if not (isinstance(budget_minutes, (int, float)) and math.isfinite(budget_minutes)
            and 0 < budget_minutes <= MAX_BUDGET_MINUTES):
        raise UsageError(f"--budget-minutes {budget_minutes}: must be a number > 0 and <= "
                         f"{MAX_BUDGET_MINUTES} (a day)")
    if batch not in (None, "auto"):
        try:
            if int(batch) < 1:
                raise ValueError
        except ValueError:
            raise UsageError(f"--batch {batch!r}: must be 'auto' or an integer >= 1") from None


def _measure_fn(base: RunConfig, out_dir: Path, on_event):
    """measure(combos, timing) for the search: a Runner over the run dir, rows appended, each
    with its stage (``tune_stage``: 0 the race, 1.. the screens, ``confirm``)."""
    from ..bench.runner import Runner

    env_written = {"done": False}

    def measure(combos, timing: dict) -> list[ResultRow]:
        cfg = base.replace(rounds=timing["rounds"], min_time=timing["min_time"],
                           iters=timing["iters"], warmup=timing["warmup"],
                           processes=timing.get("processes", 1),
                           group_size=min(64, max(timing.get("group_size", len(combos)), 1)),
                           control=False)  # paired in every round: no drift between runs to divide out
        if base.parity.layers is None and not timing.get("layers"):
            # the search screens on the logits' verdict (layer-wise parity costs ~7 s a
            # resnext50 candidate); the confirmation compares the pick layer by layer
            cfg = cfg.replace(layers=False)
        runner = Runner(cfg, out_dir, extra={"tune_stage": timing.get("stage")})
        if not env_written["done"]:
            runner.write_env()
            env_written["done"] = True
        return runner.run(combos, on_event=on_event)

    return measure


#: what writing tune.json, the report and the bundle takes (seconds), kept out of the search
FINISH_S = 10.0


def _speedup(winner: ResultRow, base: ResultRow | None, objective: str) -> dict | None:
    """Winner against the default configuration, both from the winner's last stage."""
    if base is None or not base.ok or not winner.round_medians_ms or not base.round_medians_ms:
        return None
    per_w = 1 if objective == "latency" else winner.batch * (winner.requests_per_call or 1)
    per_b = 1 if objective == "latency" else base.batch * (base.requests_per_call or 1)
    ratio, low, high = ratio_ci([m / per_w for m in winner.round_medians_ms],
                                [m / per_b for m in base.round_medians_ms])
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
           confirmation: dict | None = None, plan: dict | None = None) -> dict:
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
    out = {
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
    }
    if winner is not None and base is not None:
        out["winner_is_default"] = default_won
    return out


#: a race candidate's cost beyond its load and timed calls (the history's figures): the
#: worker's spawn, the prepare step's checks, parity on the photos. Measured here (2-vCPU Xeon,
#: resnext50_32x4d, 37 candidates): the race took 138 s where the history's load + timing
#: summed to 61 s, 2.1 s a candidate
RACE_FIXED_S = 2.0
#: layer-wise parity's cost per GFLOP of the arch (the confirmation compares the pick's
#: layers; measured: ~7 s for resnext50_32x4d at 224 px, 8.5 GFLOPs, reports/cpu/layerwise)
LAYERS_S_PER_GFLOP = 0.85


def _plan(config: RunConfig, combos, budget_s: float, load: float | None) -> dict:
    """The budget's split, read from this machine's timing history and the load it sees: the
    race's estimate (configurations measured before here; others are not guessed), the
    confirmation's reserve, and the finish. Refused (exit 2, with the estimate) when what the
    history proves the race and the confirmation need does not fit."""
    import statistics

    from ..bench.estimate import arch_flops, estimate
    from ..bench.hostload import usable_cpus
    from ..core.verdict import BUSY_CORES
    from .search import RACE

    race = config.replace(**{k: RACE[k] for k in ("rounds", "min_time", "iters", "warmup")})
    ests = estimate(race, combos)
    # the history holds load and timed calls; a race candidate also costs its spawn, the
    # prepare step's checks and parity on the photos
    measured = [e.seconds for e in ests if e.seconds is not None]
    known = [sec + RACE_FIXED_S for sec in measured]
    # a round's load + warm-up + pause: the race's figure less its timed calls
    load_s = statistics.median(max(0.0, sec - RACE["min_time"]) for sec in measured) if measured else 1.0
    c = combos[0]
    flops = arch_flops(c.arch, c.image_size) or 0
    layers_s = LAYERS_S_PER_GFLOP * flops / 1e9
    slow, cpus = 1.0, usable_cpus()
    if load is not None and load >= BUSY_CORES:  # other processes slow the CPU-bound steps
        # measured here (2 CPUs, one busy loop: load 1.0): the race took 1.3x its quiet time
        slow = min(3.0, 1.0 + load / cpus)
    reserve = (CONFIRM_ROUNDS[0] * 2 * (load_s + 0.3) + 2 * (layers_s + 1.0)) * slow
    reserve = max(reserve, 0.15 * budget_s)
    need = sum(known) * slow + reserve + FINISH_S
    plan = {"budget_s": round(budget_s, 1), "host_load_cores": load, "slowdown_assumed": round(slow, 2),
            "layers_s": round(layers_s, 1),
            "race_estimate_s": round(sum(known) * slow, 1), "race_known": len(known),
            "race_unknown": len(ests) - len(known), "confirm_reserve_s": round(reserve, 1),
            "finish_s": FINISH_S}
    if need > budget_s:
        raise UsageError(
            f"--budget-minutes {budget_s / 60:g}: this tune needs ~{need / 60:.1f} min here -- the "
            f"race over {len(known)} candidate(s) measured before on this machine ~"
            f"{sum(known) * slow / 60:.1f} min{' at the load seen now' if slow > 1 else ''}, the "
            f"confirmation against the default ~{reserve / 60:.1f} min"
            + (f", plus {len(ests) - len(known)} never measured here" if len(known) < len(ests) else "")
            + "; raise the budget or narrow --runtime / --precision")
    return plan


#: the race's order of precisions (those the ISA made worth trying), the narrowest first
PRECISION_PRIOR = {"int8": 0, "fp16": 1, "bf16": 2, "fp32": 3}


def race_order(by_key: dict) -> dict:
    """The race's order: the narrowest precision first and all CPUs before fewer -- a race the
    budget cuts short has then measured the likely answers -- and runtimes whose every load is
    a compile last. An order to measure in, never a verdict: the race measures what it reaches."""
    from .candidates import EXPENSIVE_LOADS

    def rank(key):
        c = by_key[key]
        return (c.runtime in EXPENSIVE_LOADS, PRECISION_PRIOR.get(c.precision, 9),
                -(c.threads or 0), len(c.settings or {}))

    return {k: by_key[k] for k in sorted(by_key, key=rank)}


def run_tune(arch: str, out_dir: str | Path, *, objective: str = "latency",
             budget_minutes: float = 10.0, batch=None, max_latency_ms=None, min_throughput=None,
             max_accuracy_drop=None, runtimes: list[str] | None = None,
             settings: Mapping[str, Any] | None = None, dry_run: bool = False,
             on_event=None, on_stage=None, measure=None, clock=None,
             precisions: list[str] | None = None) -> dict:
    """Search and answer (see the module doc); ``measure`` / ``clock`` replace the runner and
    the wall clock (tests). ``settings``: run settings for every candidate (parity images,
    weights, artifacts dir...). The budget counts from the call: the trained reference's
    training, exports and calibration are inside it."""
    import time

    clock = clock or time.monotonic
    start = clock()
    check_tune_args(objective, budget_minutes, batch, max_latency_ms, min_throughput,
                    max_accuracy_drop, (settings or {}).get("images"))
    settings = dict(settings or {})
    settings["images"] = settings.get("images") or TUNE_PARITY_IMAGES
    cs = candidates(arch, objective=objective, batch=batch, runtimes=runtimes,
                    image_size=(settings or {}).get("image_sizes"), precisions=precisions)
    if dry_run:
        return {"dry_run": True, "candidate_set": cs}
    if not cs.candidates or not any(not c.baseline for c in cs.candidates):
        # nothing to search (the default alone is no answer to "what to deploy")
        raise UsageError(f"no candidate configuration for {arch} here"
                         + (f" among --runtime {','.join(runtimes)}" if runtimes else "") + ": "
                         + "; ".join(f"{w}: {why}" for w, why in cs.excluded))
    calib = [k for k in ("calib_count", "calib_crops", "calib_images") if settings.get(k) is not None]
    if calib and not any(c.combo.precision == "int8" for c in cs.candidates):
        raise UsageError(f"{cli_flag(calib[0])} calibrates int8 files, and no int8 "
                         "candidate is searched here (--precision, or the ISA): drop it")
    with run_dir_lock(out_dir):  # one writer, for every stage (the lock is re-entrant)
        return _tune_locked(arch, Path(out_dir), cs, objective, budget_minutes, batch,
                            max_latency_ms, min_throughput, max_accuracy_drop, settings,
                            on_event, on_stage, measure, clock, start)


def _tune_locked(arch, out_dir, cs, objective, budget_minutes, batch, max_latency_ms,
                 min_throughput, max_accuracy_drop, settings, on_event, on_stage, measure,
                 clock, start) -> dict:
    from ..bench.events import Event, silent
    from ..core.verdict import BUSY_CORES

    emit = on_event or silent
    if (out_dir / RESULTS).exists():
        raise UsageError(f"{out_dir} already holds results: tune into a new --out")
    if (out_dir / "bundle").exists() or (out_dir / "bundle").is_symlink():
        raise UsageError(f"{out_dir / 'bundle'} exists (a tune writes its bundle there, replacing "
                         "the folder): tune into a new --out; nothing was touched")
    values = {k: v for k, v in (settings or {}).items() if v is not None}
    values.update(archs=arch, runtimes=sorted({c.combo.runtime for c in cs.candidates}))
    base = RunConfig.from_values(values)
    by_key = race_order({c.combo.key: c.combo for c in cs.candidates})
    budget_s = budget_minutes * 60
    load, plan = None, None
    if measure is None:
        from ..bench.hostload import load_now

        load = load_now(1.0)
        plan = _plan(base, list(by_key.values()), budget_s, load)
        from ..models.weightsource import is_trained_reference

        if is_trained_reference(base.export.weights):
            from .training import ensure_trained

            ensure_trained(arch, base.export.seed, base.export.artifacts,
                           deadline=start + budget_s - plan["confirm_reserve_s"] - FINISH_S,
                           emit=lambda text: emit(Event.NOTE, text=text))
    reserve = (plan or {}).get("confirm_reserve_s", 0.2 * budget_s) + (FINISH_S if plan else 0)
    baseline = next((c.combo.key for c in cs.candidates if c.baseline), None)
    measure_fn = measure or _measure_fn(base, out_dir, on_event)
    res = search(by_key, measure_fn, objective=objective,
                 budget_s=max(budget_s - (clock() - start) - reserve, 0.0), baseline=baseline,
                 clock=clock, max_latency_ms=max_latency_ms, min_throughput=min_throughput,
                 max_accuracy_drop=max_accuracy_drop, on_stage=on_stage,
                 busy=load is not None and load >= BUSY_CORES)
    confirmation = None
    win = res.standings[res.winner].row if res.winner else None
    dflt = res.standings[baseline].row if baseline else None
    if win is not None and dflt is not None and dflt.ok and not same_in_effect(win, dflt) \
            and res.winner != baseline:
        last = res.stages[-1]  # its cost model: a round of both sides, and each side's parity
        per_round = 2 * (last.round_s + CONFIRM_TIMING["min_time"] / CONFIRM_ROUNDS[0])
        fixed = 2 * (last.fixed_s + (plan or {}).get("layers_s", 0.0))
        left = budget_s - (clock() - start) - (FINISH_S if plan else 0) - fixed
        confirmation = confirm(measure_fn, by_key[res.winner], by_key[baseline], objective,
                               left, per_round)
        if confirmation["verdict"] != "faster" and confirmation["ratio"]:
            confirmation["load_dependence"] = load_dependence(res, confirmation, objective)

    constraints = {"max_latency_ms": max_latency_ms, "min_throughput": min_throughput,
                   "max_accuracy_drop": max_accuracy_drop, "batch": batch,
                   "budget_minutes": budget_minutes}
    result = answer(res, cs, objective, constraints, confirmation, plan)
    result["wall_seconds"] = round(clock() - start, 1)
    if measure is None:
        write_json_atomic(out_dir / "tune.json", result)
        if result["winner"]:
            from ..reports.render import markdown_report
            from .bundle import write_bundle

            if result.get("pick_rejected"):
                winner = confirmation.get("default_row") or dflt
            elif confirmation is not None:
                winner = confirmation["pick_row"]
            else:
                winner = res.standings[res.winner].row
            metrics = {"winner": result["winner"]["measured"], "parity": result["winner"]["parity"],
                       "vs_default": result["vs_default"], "objective": objective,
                       "constraints": constraints, "stopped": res.stopped,
                       "pick_rejected": result["pick_rejected"],
                       "ties": result["ties"], "tie_break": result["tie_break"],
                       "not_separated": result["not_separated"]}
            report_md = markdown_report(load_run(out_dir))
            result["bundle"] = str(write_bundle(out_dir / "bundle", winner, metrics, report_md))
            result["wall_seconds"] = round(clock() - start, 1)
            write_json_atomic(out_dir / "tune.json", result)
    return result


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


def render_answer(result: dict) -> str:
    """The answer in a few lines: the pick, how much better than the default, ties, the front."""
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
