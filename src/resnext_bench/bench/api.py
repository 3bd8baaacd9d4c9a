"""One function per measuring command (``bench``, ``parity``, ``sweep``): the CLI parses,
calls one of these, and prints what it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..config import RunConfig, TimingConfig, cli_flag
from ..core.errors import UsageError
from ..core.rundir import RESULTS, done_keys, run_dir_lock
from ..core.schema import ResultRow
from .events import Event, silent
from .plan import combos, option_notes, parse_shard
from .resume import check_resumable
from .runner import Runner
from .sweep import load_sweep_config, select_combos

#: setting -> ONNX metadata key (written by the exporter) that fills it under ``--onnx``
ONNX_METADATA_FILLS = {"archs": "arch", "forms": "form", "precisions": "precision",
                       "seed": "seed", "image_sizes": "image_size"}


def fill_from_onnx_metadata(given: dict) -> dict:
    """With ``onnx`` set: the settings the user gave win, the file's resnext-bench metadata fills
    the rest (arch, form, precision, seed, image size), so the torch reference matches the file."""
    from ..exporters.onnxfile import load_user_onnx, metadata_of

    path = given["onnx"]
    model = load_user_onnx(path)
    meta = metadata_of(model)
    out = dict(given)
    _check_image_size(path, model, given.get("image_sizes"))
    _check_file_precision(path, model, given.get("precisions"))
    _check_file_arch(path, meta.get("resnext_bench.arch"), given.get("archs"))
    for setting, key in ONNX_METADATA_FILLS.items():
        value = meta.get(f"resnext_bench.{key}")
        if setting not in out and value is not None:
            out[setting] = value
    if "precisions" not in out:  # a file without our metadata: what its graph runs
        from ..exporters.onnxfile import file_precision

        out["precisions"] = file_precision(model)
    if "archs" not in out:
        raise UsageError(f"--onnx {path} has no resnext-bench metadata: pass --arch so the "
                         "parity reference can be built")
    archs = out["archs"]
    if (isinstance(archs, str) and "," in archs) or (isinstance(archs, (list, tuple)) and len(archs) > 1):
        raise UsageError("--onnx benches one file: give one --arch")
    return out


def _check_file_arch(path, own: str | None, asked) -> None:
    """An arch other than the file's own would build the wrong parity reference and label the
    rows with a network that did not run (resnet18 files as "resnet50": cosine 0.086)."""
    if not own or asked in (None, "", ()):
        return
    from ..models.spec import parse_arch

    names = asked if isinstance(asked, (list, tuple)) else str(asked).split(",")
    wrong = [n for n in (str(x).strip() for x in names) if n and parse_arch(n).name != parse_arch(own).name]
    if wrong:
        raise UsageError(f"--arch {','.join(wrong)}: {path} is a {own} file (its resnext-bench "
                         "metadata); drop --arch, or give the file of that arch")


def _check_file_precision(path, model, asked) -> None:
    """A row says the precision that ran: an int8 (QDQ) or fp16 file runs in its own precision
    whatever ``--precision`` says, so asking another one for it is a usage error, not an
    "fp32" row that ran int8 (an fp32 file may still be asked for int8: it is quantized, or
    for bf16 / fp16 where the runtime lowers it)."""
    from ..exporters.onnxfile import file_precision

    if asked in (None, "", ()):
        return
    own = file_precision(model)
    wanted = [str(p).strip() for p in (asked if isinstance(asked, (list, tuple)) else str(asked).split(","))]
    wrong = [p for p in wanted if p != own] if own != "fp32" else []
    if wrong:
        raise UsageError(f"--precision {','.join(wrong)}: {path} is an {own} file (read from its "
                         f"graph) and runs {own} whatever the row says; use --precision {own}, or "
                         "give the fp32 file")


def _check_image_size(path, model, asked) -> None:
    """A file with a fixed input size runs that size only: another --image-size is a usage
    error here, not a failed row (ONNX Runtime's INVALID_ARGUMENT) later."""
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in model.graph.input[0].type.tensor_type.shape.dim] if model.graph.input else []
    if len(dims) != 4 or not dims[2] or not dims[3] or asked in (None, "", ()):
        return
    sizes = asked if isinstance(asked, (list, tuple)) else str(asked).split(",")
    wrong = [str(s).strip() for s in sizes if str(s).strip() != str(dims[2])]
    if wrong:
        raise UsageError(f"--image-size {','.join(wrong)}: {path} takes {dims[2]}x{dims[3]} "
                         "inputs only (its input shape is fixed)")


def _emit_notes(config: RunConfig, on_event, *, strict: bool) -> None:
    for text in option_notes(config, strict=strict):
        if on_event is not None:
            on_event(Event.NOTE, text=text)


def config_from_cli(values: Mapping[str, Any]) -> RunConfig:
    """The run config from CLI option values (``None`` = not given: the default applies)."""
    given = {k: v for k, v in values.items() if v is not None}
    if given.get("onnx"):
        given = fill_from_onnx_metadata(given)
    elif not given.get("archs"):
        raise UsageError(f"{cli_flag('archs')} is required (or --onnx PATH with resnext-bench metadata)")
    return RunConfig.from_values(given)


def dry_run(config: RunConfig, todo=None, *, strict: bool = True) -> str:
    """The plan without measuring: every configuration, why it is in or out, an estimate."""
    from .estimate import render_dry_run

    todo = combos(config, strict=strict) if todo is None else todo
    notes = [f"note: {n}" for n in option_notes(config, strict=strict)]
    return "\n".join(notes + precision_reasons(config) + [render_dry_run(config, todo, Runner.skip_reason)])


def precision_reasons(config: RunConfig) -> list[str]:
    """Why each precision asked for is in: what this CPU's ISA gives it (and, for int8, which
    quantizer makes the file), or that it was asked for although no runtime here has a fast
    path for it -- measured anyway, so the numbers say so."""
    from ..core.isa import cpu_flags, precisions_worth_trying

    worth = precisions_worth_trying(cpu_flags())
    lines = []
    for p in config.plan.precisions:
        why = worth.get(p) or ("asked for; no fast path for it on this CPU's ISA (measured anyway)"
                               if p != "fp16" else "asked for; fast on GPUs, emulated or lowered here")
        if p == "int8":
            quantizers = dict(config.axes).get("quantizer") or [config.quant.quantizer]
            why += f"; int8 file by {', '.join(quantizers)}"
        lines.append(f"precision {p}: {why}")
    return lines


def dry_run_sweep(config_path: str | Path, out_dir: str | Path, *, resume: bool = False,
                  shard: str | None = None) -> str:
    config = load_sweep_config(config_path)
    done = done_keys(out_dir) if resume else None
    todo, already = select_combos(config, parse_shard(shard), done)
    head = f"{len(already)} already done in {out_dir}\n" if already else ""
    return head + dry_run(config, todo, strict=False)


def run_bench(config: RunConfig, out_dir: str | Path, on_event=None) -> tuple[list[ResultRow], Path]:
    """Measure every combination of ``config``; rows appended to ``out_dir/results.jsonl``."""
    _emit_notes(config, on_event, strict=True)
    todo = combos(config, strict=True)
    with run_dir_lock(out_dir):
        for text in check_resumable(out_dir, config, allow_changed=True):  # bench appends
            if on_event is not None:
                on_event(Event.NOTE, text=text)
        runner = Runner(config, out_dir)
        runner.write_env()
        return runner.run(todo, on_event=on_event), runner.results_path


def run_parity(config: RunConfig, on_event=None) -> list[ResultRow]:
    """Parity only (no timing, nothing kept on disk)."""
    _emit_notes(config, on_event, strict=True)
    return Runner(config, None, timed=False).run(combos(config, strict=True))


def run_sweep(config_path: str | Path, out_dir: str | Path, *, resume: bool = False,
              shard: str | None = None, executor: str = "local", ray_address: str | None = None,
              on_start=None, on_event=None, group_fn=None, allow_changed: bool = False
              ) -> tuple[list[ResultRow], Path]:
    """Run a TOML sweep into ``out_dir``; ``on_start(todo, already)`` is told the plan first.

    ``executor="ray"``: the groups run as Ray tasks (:mod:`.ray_executor`); ``group_fn``
    replaces the task function (tests inject a failing task)."""
    if executor not in ("local", "ray"):
        raise UsageError(f"--executor {executor!r}: must be local or ray")
    if executor == "ray":
        from .ray_executor import import_ray

        import_ray()  # says how to install it before any work
    config = load_sweep_config(config_path)
    _emit_notes(config, on_event, strict=False)
    shard_t = parse_shard(shard)
    with run_dir_lock(out_dir):
        return _sweep_locked(config, out_dir, resume, shard_t, executor, ray_address, on_start,
                             on_event, group_fn, allow_changed)


def _sweep_locked(config, out_dir, resume, shard_t, executor, ray_address, on_start, on_event,
                  group_fn, allow_changed):
    done = done_keys(out_dir)
    if not resume and (Path(out_dir) / RESULTS).exists() and done:
        raise UsageError(f"{out_dir} already holds results: use --resume to continue it, or a new --out")
    if resume:
        for text in check_resumable(out_dir, config, allow_changed=allow_changed):
            if on_event is not None:
                on_event(Event.NOTE, text=text)
    todo, already = select_combos(config, shard_t, done if resume else None)
    if executor == "ray" and not ray_address:  # local Ray workers: same files as this process
        config = config.replace(artifacts=str(Path(config.export.artifacts).resolve()))
    runner = Runner(config, out_dir)
    runner.write_env()
    if on_start is not None:
        on_start(todo, already)
    if executor == "ray":
        from .ray_executor import measure_group, run_ray

        rows = run_ray(runner, todo, address=ray_address, on_event=on_event,
                       group_fn=group_fn or measure_group)
        return rows, runner.results_path
    return runner.run(todo, on_event=on_event), runner.results_path


def _side_values(common: dict, path: str, overrides: tuple[str, ...], side: str) -> dict:
    values = dict(common, onnx=path)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--{side}-set {item!r}: expected KEY=VALUE (a setting name, see "
                             "`resnext-bench sweep --help-config`)")
        values[key.strip().replace("-", "_")] = value.strip()
    return fill_from_onnx_metadata(values)


def run_ab(base: str, new: str, common: Mapping[str, Any], *, base_set: tuple[str, ...] = (),
           new_set: tuple[str, ...] = (), out_dir: str | Path, on_event=None,
           settle_seconds: float = 0.0, threshold: float = 0.05
           ) -> tuple[ResultRow, ResultRow, Path, list[tuple[ResultRow, ResultRow]]]:
    """Measure two ONNX files -- or one file under two settings (``base_set`` / ``new_set``:
    ``KEY=VALUE``) -- interleaved round by round in one job, each in its own worker.

    ``common``: settings for both sides (runtime, batch, timing...). Each side must come to
    exactly one configuration. Both rows are appended to ``out_dir/results.jsonl`` with
    ``ab_side`` = ``base`` / ``new`` and ``ab_job``. While the verdict on the jobs so far
    (:func:`~resnext_bench.core.verdict.ab_judgement` at ``threshold``) is undecided and its
    interval still narrows (``worth_another_job``), and another job fits in ``settle_seconds``
    (from the start), another job of rounds is measured (a stability window). Returns the last
    job's rows, the results path, and every job's (base, new) rows."""
    import time

    given = {k: v for k, v in common.items() if v is not None}
    given.setdefault("runtimes", "ort-cpu")  # the files are what differs: an ONNX runtime
    # a fresh worker per side each round: a bias that sticks to one process (0.90x-1.44x for a
    # file against itself, measured here) becomes round-to-round spread the verdict sees
    given.setdefault("processes", given.get("rounds", TimingConfig().rounds))
    # both sides share every round, so the machine's drift lands on both: the control (for
    # compare, between runs) would only cost time here
    given.setdefault("control", False)
    configs, jobs = [], []
    for side, path, sets in (("base", base, base_set), ("new", new, new_set)):
        config = RunConfig.from_values(_side_values(given, path, sets, side))
        todo = combos(config, strict=True)
        if len(todo) != 1:
            raise UsageError(f"ab measures one configuration per side; {side} has {len(todo)} "
                             "(give one --runtime, --batch and --precision)")
        # what bench refuses, ab refuses: a runtime that does not run the file (torch runs
        # the module, not the file), an option no runtime of the side reads, a precision the
        # runtime does not run -- before anything is measured
        option_notes(config, strict=True)
        why = Runner.skip_reason(todo[0])
        if why:
            raise UsageError(f"ab {side} side: {why}")
        configs.append(config)
        jobs.append((config, todo[0]))
    if configs[0].timing.rounds != configs[1].timing.rounds:
        raise UsageError("ab: both sides need the same --rounds")
    from ..core.verdict import ab_judgement, worth_another_job

    pairs: list[tuple[ResultRow, ResultRow]] = []
    widths: list[float] = []  # the interval's width after each job (worth_another_job)
    fitted_from = None  # the first job measured with threads fitted to the free CPUs
    with run_dir_lock(out_dir):
        runner = Runner(configs[0], out_dir)
        runner.write_env()
        emit = on_event or silent
        start = time.monotonic()
        while True:
            t0 = time.monotonic()
            sink = runner.sink(len(jobs), emit)
            sink.group(len(pairs), len(pairs) + 1, [c for _, c in jobs], configs[0].timing.rounds)
            rows = runner.measure_group([runner.job(c, cfg) for cfg, c in jobs], emit)
            for side, row in zip(("base", "new"), rows):
                row.extra["ab_side"] = side
                row.extra["ab_job"] = len(pairs) + 1
                if fitted_from is not None:
                    row.extra["ab_threads_fitted"] = True
                sink.put(row)
            pairs.append((rows[0], rows[1]))
            job_s = time.monotonic() - t0
            asked = any("threads" in cfg.given for cfg, _ in jobs)  # the user's threads stay
            fit = None if fitted_from is not None or asked else fitted_threads(rows)
            if fit is not None:  # a pool larger than the free CPUs: measure so it cannot bias
                emit(Event.NOTE, text=f"ab: busy host; measuring again with --threads {fit} "
                                      "(fitting the free CPUs) on both sides")
                fitted_from = len(pairs)
                jobs = [(cfg.replace(threads=str(fit)), combos(cfg.replace(threads=str(fit)), strict=True)[0])
                        for cfg, _ in jobs]
                continue
            judged = pairs[fitted_from:] if fitted_from is not None else pairs
            if (settle_seconds <= 0 or time.monotonic() - start + job_s > settle_seconds
                    or not worth_another_job(ab_judgement(judged, threshold), widths)):
                break
            emit(Event.NOTE, text=f"ab: the interval has not settled after {len(judged)} job(s); "
                                  "measuring another job of rounds")
    judged = pairs[fitted_from:] if fitted_from is not None else pairs
    return rows[0], rows[1], runner.results_path, judged


def fitted_threads(rows) -> int | None:
    """The thread count that fits beside the load other processes put on the host while
    ``rows`` were timed, when a row's pool did not fit (:func:`~resnext_bench.core.verdict.
    contention`), else None: interleaving cancels drift, not a pool that fights a busy loop
    for a CPU (a 1.66x slower file measured 1.02x faster that way, here)."""
    from ..core.verdict import FIT_MARGIN, contention

    busy = [r for r in rows if contention(r)]
    if not busy:
        return None
    cpus = min(r.host_cpus for r in busy)
    load = max(r.host_load_cores for r in busy)
    return max(1, int(cpus - load + FIT_MARGIN))
