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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import RunConfig, cli_flag
from ..core.errors import UsageError
from ..core.fileio import write_json_atomic
from ..core.rundir import RESULTS, run_dir_lock
from ..core.schema import ResultRow
from .answer import TuneAnswer, answer
from .candidates import CandidateSet, candidates
from .confirm import CONFIRM_ROUNDS, CONFIRM_TIMING, confirm, load_dependence, same_in_effect
from .options import TuneOptions
from .search import search


#: the parity images a tune judges on unless told otherwise: what to ship is judged on natural
#: images -- on seeded noise the default weights decide near ties (no trained net is confident
#: on noise), and an int8 file calibrated on photos would meet inputs it never saw
TUNE_PARITY_IMAGES = "builtin"


class _Measurer:
    """measure(combos, timing) for the search: a Runner over the run dir, rows appended, each
    with its stage (``tune_stage``: 0 the race, 1.. the screens, ``confirm``). It keeps the
    rows and the environment it wrote, so the answer's report is built from them in memory."""

    def __init__(self, base: RunConfig, out_dir: Path, on_event):
        self.base, self.out_dir, self.on_event = base, out_dir, on_event
        self.rows: list[ResultRow] = []
        self.env: dict | None = None

    def __call__(self, combos, timing: dict) -> list[ResultRow]:
        from ..bench.runner import Runner

        cfg = self.base.replace(rounds=timing["rounds"], min_time=timing["min_time"],
                                iters=timing["iters"], warmup=timing["warmup"],
                                processes=timing.get("processes", 1),
                                group_size=min(64, max(timing.get("group_size", len(combos)), 1)),
                                control=False)  # paired in every round: no drift between runs to divide out
        if self.base.parity.layers is None and not timing.get("layers"):
            # the search screens on the logits' verdict (layer-wise parity costs ~7 s a
            # resnext50 candidate); the confirmation compares the pick layer by layer
            cfg = cfg.replace(layers=False)
        runner = Runner(cfg, self.out_dir, extra={"tune_stage": timing.get("stage")})
        if self.env is None:
            self.env = runner.write_env()
        rows = runner.run(combos, on_event=self.on_event)
        self.rows.extend(rows)
        return rows

    def run_data(self, answer: dict):
        """The tune's rows and environment as a run the report reads, with its answer."""
        from ..core.rundir import RunData

        return RunData(self.out_dir, list(self.rows), self.env or {}, tune=answer)


#: what writing tune.json, the report and the bundle takes (seconds), kept out of the search
FINISH_S = 10.0


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


def candidate_set(opts: TuneOptions, concurrency: int | None = None) -> CandidateSet:
    """The candidates this machine offers for the question, each with why it is in or out
    (``tune --dry-run`` prints it). ``concurrency``: the load they serve where ``opts`` says
    ``auto`` (its knee; before it is measured, the usable CPUs stand in)."""
    if opts.concurrency == "auto" and concurrency is None:
        from ..bench.env import cpu_quota

        concurrency = cpu_quota()
    return candidates(opts.arch, objective=opts.objective, batch=opts.batch,
                      runtimes=list(opts.runtimes) if opts.runtimes else None,
                      image_size=opts.image_size,
                      precisions=list(opts.precisions) if opts.precisions else None,
                      concurrency=concurrency or opts.fixed_concurrency)


def run_tune(opts: TuneOptions, out_dir: str | Path, *, on_event=None, on_stage=None,
             measure=None, clock=None) -> TuneAnswer:
    """Search and answer (see the module doc); ``measure`` / ``clock`` replace the runner and
    the wall clock (tests). ``opts.settings``: run settings for every candidate (parity images,
    weights, artifacts dir...). The budget counts from the call: the trained reference's
    training, exports and calibration are inside it."""
    import time

    clock = clock or time.monotonic
    start = clock()
    settings = dict(opts.settings)
    settings["images"] = settings.get("images") or TUNE_PARITY_IMAGES
    settings["image_sizes"] = opts.image_size
    cs = candidate_set(opts)
    if not cs.candidates or not any(not c.baseline for c in cs.candidates):
        # nothing to search (the default alone is no answer to "what to deploy")
        raise UsageError(f"no candidate configuration for {opts.arch} here"
                         + (f" among --runtime {','.join(opts.runtimes)}" if opts.runtimes else "")
                         + ": " + "; ".join(f"{w}: {why}" for w, why in cs.excluded))
    calib = [k for k in ("calib_count", "calib_crops", "calib_images") if settings.get(k) is not None]
    if calib and not any(c.combo.precision == "int8" for c in cs.candidates):
        raise UsageError(f"{cli_flag(calib[0])} calibrates int8 files, and no int8 "
                         "candidate is searched here (--precision, or the ISA): drop it")
    out_dir = Path(out_dir)
    values = {k: v for k, v in settings.items() if v is not None}
    values.update(archs=opts.arch, runtimes=sorted({c.combo.runtime for c in cs.candidates}))
    base = RunConfig.from_values(values)
    with run_dir_lock(out_dir):  # one writer, for every stage (the lock is re-entrant)
        if (out_dir / RESULTS).exists():
            raise UsageError(f"{out_dir} already holds results: tune into a new --out")
        if (out_dir / "bundle").exists() or (out_dir / "bundle").is_symlink():
            raise UsageError(f"{out_dir / 'bundle'} exists (a tune writes its bundle there, "
                             "replacing the folder): tune into a new --out; nothing was touched")
        return _tune_locked(opts, base, out_dir, cs, _Hooks(on_event, on_stage, measure, clock, start))


@dataclass
class _Hooks:
    """What a tune reports to and measures with, and when it started."""

    on_event: Any
    on_stage: Any
    measure: Any  # None: the real runner (and the run dir, the plan, the bundle)
    clock: Any
    start: float


def _tune_locked(opts: TuneOptions, base: RunConfig, out_dir: Path, cs: CandidateSet,
                 hooks: _Hooks) -> TuneAnswer:
    from ..bench.events import Event, silent
    from ..core.verdict import BUSY_CORES

    emit = hooks.on_event or silent
    clock, start = hooks.clock, hooks.start
    by_key = race_order({c.combo.key: c.combo for c in cs.candidates})
    budget_s = opts.budget_minutes * 60
    load, plan = None, None
    real = hooks.measure is None
    if real:
        from ..bench.hostload import load_now

        load = load_now(1.0)
        plan = _plan(base, list(by_key.values()), budget_s, load)
        from ..models.weightsource import is_trained_reference

        if is_trained_reference(base.export.weights):
            from .training import ensure_trained

            ensure_trained(opts.arch, base.export.seed, base.export.artifacts,
                           deadline=start + budget_s - plan["confirm_reserve_s"] - FINISH_S,
                           emit=lambda text: emit(Event.NOTE, text=text))
    reserve = (plan or {}).get("confirm_reserve_s", 0.2 * budget_s) + (FINISH_S if plan else 0)
    measurer = _Measurer(base, out_dir, hooks.on_event) if real else None
    measure_fn = measurer or hooks.measure
    served = None  # the load every candidate serves (--concurrency), and how it was chosen
    if opts.concurrency == "auto":
        from .knee import find_knee, load_levels

        dflt_combo = next((c.combo for c in cs.candidates if c.baseline), None)
        if dflt_combo is None:
            raise UsageError("--concurrency auto reads the knee of the default configuration "
                             "(ort-cpu fp32), which is not usable here: give --concurrency N")
        served = find_knee(measure_fn, dflt_combo, load_levels(cs.cpus), opts.max_latency_ms)
        emit(Event.NOTE, text=f"--concurrency {served['chosen']}")
        cs = candidate_set(opts, served["concurrency"])
        by_key = race_order({c.combo.key: c.combo for c in cs.candidates})
    elif opts.concurrency is not None:
        served = {"concurrency": int(opts.concurrency), "chosen": "given (--concurrency)"}
    baseline = next((c.combo.key for c in cs.candidates if c.baseline), None)
    res = search(by_key, measure_fn, objective=opts.objective,
                 budget_s=max(budget_s - (clock() - start) - reserve, 0.0), baseline=baseline,
                 clock=clock, max_latency_ms=opts.max_latency_ms, min_throughput=opts.min_throughput,
                 max_accuracy_drop=opts.max_accuracy_drop, on_stage=hooks.on_stage,
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
        confirmation = confirm(measure_fn, by_key[res.winner], by_key[baseline], opts.objective,
                               left, per_round)
        if confirmation["verdict"] != "faster" and confirmation["ratio"]:
            confirmation["load_dependence"] = load_dependence(res, confirmation, opts.objective)

    result = answer(res, cs, opts.objective, opts.constraints(), confirmation, plan)
    result.load = served
    result.wall_seconds = round(clock() - start, 1)
    if real:
        write_json_atomic(out_dir / "tune.json", result.to_json())
        if result.winner:
            from ..reports.render import markdown_report
            from .bundle import write_bundle

            report_md = markdown_report(measurer.run_data(result.to_json()))
            result.bundle = str(write_bundle(out_dir / "bundle", result.deployed_row,
                                             result.bundle_metrics(), report_md))
            result.wall_seconds = round(clock() - start, 1)
            write_json_atomic(out_dir / "tune.json", result.to_json())
    return result
