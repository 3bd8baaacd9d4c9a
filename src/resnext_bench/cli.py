"""The ``resnext-bench`` command line: each command parses, calls one function, prints.

This module imports nothing heavy at module level (no torch, onnx, onnxruntime, tensorrt,
pandas, numpy): the options of ``bench`` / ``parity`` are generated from the typed settings of
:mod:`resnext_bench.config` (pure Python), and each command imports what it needs when it runs,
so ``--help`` is instant and a command for one runtime never loads another's library.

Exit codes (the contract CI scripts rely on): 0 ok; 1 a regression was found or a check failed;
2 usage or input error (one line on stderr, no traceback); 3 (``ab`` / ``compare`` with
``--fail-on-inconclusive``) no regression, but a verdict could not be reached.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import fields

import click

from . import __version__
from .config import (EXPORT_PRECISIONS, FORMS, SECTIONS, ExportOptions, PlanConfig, cli_flag,
                     render_settings_help)
from .core.errors import CheckFailed, Terminated, UsageError, write_error_text

#: where ``baseline`` keeps its runs unless --store says (core.baseline.DEFAULT_STORE; spelled
#: here so that --help imports nothing more)
DEFAULT_BASELINE_STORE = ".resnext-bench/baselines"

#: ``ab`` / ``compare --fail-on-inconclusive``: no regression, but no verdict either
INCONCLUSIVE_EXIT = 3


class _Group(click.Group):
    """Turn the tool's own error types -- and click's usage errors (a wrong ``--format``) --
    into one-line messages with the documented exit codes."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"error: {exc.format_message()}{where}", err=True)
            sys.exit(2)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        except click.exceptions.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        sys.exit(0)

    def invoke(self, ctx):
        _handle_sigterm()
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except CheckFailed as exc:
            click.echo(f"check failed: {exc}", err=True)
            sys.exit(exc.exit_code)
        except Terminated:
            click.echo("terminated (SIGTERM): workers stopped, the rows written so far are whole",
                       err=True)
            sys.exit(Terminated.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted: workers stopped, the rows written so far are whole", err=True)
            sys.exit(130)
        except BrokenPipeError:  # `resnext-bench report RUN | head`: the reader is gone
            _quiet_stdout()
            sys.exit(141)
        except OSError as exc:
            text = write_error_text(exc)
            if text is None:
                raise
            click.echo(f"error: {text}", err=True)
            sys.exit(2)


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush does not
    print a second error."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _handle_sigterm() -> None:
    """SIGTERM raises :class:`Terminated` in the main thread (see there)."""
    import signal

    def raise_terminated(_signum, _frame):
        raise Terminated()

    try:
        signal.signal(signal.SIGTERM, raise_terminated)
    except ValueError:  # not the main thread (an embedding caller): leave its handler
        pass


def _print_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def _warn_skipped(run) -> None:
    """A run dir whose results.jsonl had torn or invalid lines says so, once, on stderr."""
    message = run.warning()
    if message:
        click.echo(f"warning: {message}", err=True)


def _load_run(run_dir):
    from .core.rundir import load_run

    run = load_run(run_dir)
    _warn_skipped(run)
    return run


_METAVARS = {"str": "TEXT", "int": "INT", "float": "NUM", "path": "PATH", "str_list": "A[,B]",
             "int_list": "N[,M]"}


def _setting_option(f, shown_default=None):
    """A click option for one setting: flag and help from the dataclass field; the value is
    left as given (None when not given) and checked by the configuration, not by click.
    ``shown_default``: the default this command applies instead of the setting's own."""
    meta = f.metadata
    default = f.default if shown_default is None else shown_default
    shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
    help_text = meta["help"]
    if meta["choices"]:
        help_text += f" One of: {', '.join(map(str, meta['choices']))}."
    if meta["kind"] == "bool":
        flag = cli_flag(f.name)
        kw = {} if "/" in flag else {"is_flag": True}  # "--x/--no-x" is a boolean pair already
        return click.option(flag, f.name, default=None, help=help_text, **kw)
    if shown not in (None, "", ()):
        help_text += f"  [default: {shown}]"
    return click.option(cli_flag(f.name), f.name, default=None, help=help_text,
                        metavar=_METAVARS[meta["kind"]])


def setting_options(*sections: str, exclude: tuple[str, ...] = (), defaults=None):
    """Decorate a command with the options of the named config sections; ``defaults``: the
    settings whose default this command changes (its help says the command's own)."""
    defaults = defaults or {}

    def deco(func):
        for sec in reversed(sections):
            for f in reversed(fields(SECTIONS[sec])):
                if f.name not in exclude:
                    func = _setting_option(f, defaults.get(f.name))(func)
        return func
    return deco


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="resnext-bench")
def main():
    """Export the ResNeXt family to ONNX, benchmark it on several runtimes, and compare.

    \b
    Start here:
      resnext-bench doctor                                  what runs on this machine
      resnext-bench export --arch resnext50_32x4d           a checked ONNX file
      resnext-bench bench --arch resnext50_32x4d --runtime all --images builtin
      resnext-bench tune --arch resnext50_32x4d --budget-minutes 8   what to deploy here
      resnext-bench ab base.onnx new.onnx                   a CI gate on two files

    \b
    Exit codes: 0 ok, 1 regression found / check failed, 2 usage or input error, 3 no
    regression but no verdict either (ab / compare with --fail-on-inconclusive).
    """


# ---------------------------------------------------------------------------------------- list
@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(as_json):
    """Arch grammar with examples, and the runtimes with whether they are usable here."""
    from .models.spec import EXAMPLES, GRAMMAR
    from .runtimes import describe_runtimes

    runtimes = describe_runtimes()
    if as_json:
        _print_json({"grammar": GRAMMAR, "examples": list(EXAMPLES), "forms": list(FORMS),
                     "runtimes": runtimes})
        return
    click.echo(f"archs: {GRAMMAR}")
    click.echo(f"  examples: {', '.join(EXAMPLES)}")
    click.echo("  forms: a (C branches summed), b (branches concatenated + one 1x1), c (grouped conv; default)")
    click.echo("runtimes:")
    width = max(len(r["name"]) for r in runtimes)
    for r in runtimes:
        click.echo(f"  {r['name']:<{width}} {'yes' if r['available'] else 'no '}  {r['reason']}")


# ---------------------------------------------------------------------------------------- info
@main.command()
@click.option("--arch", required=True, help="Architecture name, e.g. resnext50_32x4d.")
@click.option("--image-size", type=int, default=None, help="Input size (default: arch's own).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(arch, image_size, as_json):
    """Params, MACs, FLOPs (= 2 x MACs) and per-stage widths of an arch."""
    from .models.info import arch_info

    data = arch_info(arch, image_size)
    if as_json:
        _print_json(data)
        return
    click.echo(f"{data['arch']}  ({data['family']}, C={data['cardinality']}, d={data['width']}, "
               f"input {data['image_size']}x{data['image_size']}, {data['num_classes']} classes)")
    click.echo(f"  params  {data['params']:,} ({data['params'] / 1e6:.2f} M)")
    click.echo(f"  MACs    {data['macs']:,} ({data['gmacs']:.3f} G multiply-accumulates)")
    click.echo(f"  FLOPs   {data['flops']:,} (= 2 x MACs; the paper's 'FLOPs' are MACs)")
    click.echo("  stage  blocks  stride  inner width  out channels")
    for s in data["stages"]:
        click.echo(f"  {s['stage']:>5}  {s['blocks']:>6}  {s['stride']:>6}  {s['inner']:>11}  {s['out']:>12}")
    pub, tv = data["published"], data["torchvision"]
    if pub:
        cost = (f"; {pub['params_m']} M params" + (f", {pub['gmacs']} G FLOPs (multiply-adds)" if pub["gmacs"] else "")
                + f" ({pub['cost_source']})") if pub["params_m"] else ""
        click.echo(f"  paper   {pub['label']}: top-1 error {pub['top1_error']} % on {pub['dataset']} "
                   f"({pub['error_source']}){cost}")
    else:
        click.echo("  paper   no published number for this configuration")
    if tv:
        click.echo(f"  torchvision  {tv['params']:,} params, {tv['gmacs']} GMACs ({tv['source']})")


# -------------------------------------------------------------------------------------- export
def _export_batch(value: str) -> int | None:
    """export's --batch: 'dynamic' (None) or one static N."""
    if value.strip().lower() == "dynamic":
        return None
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"--batch {value!r}: export takes 'dynamic' or one integer N") from None


@main.command()
@click.option("--arch", required=True, help="Architecture name, e.g. resnext50_32x4d.")
@click.option("--out", "out_dir", default=ExportOptions.artifacts, show_default=True,
              help="Output directory.")
@click.option("--form", default=PlanConfig.forms[0], show_default=True,
              help="Block form: a summed branches, b concatenated branches, c grouped conv.")
@click.option("--batch", default="dynamic", show_default=True, help="'dynamic' or a static N.")
@click.option("--precision", default=EXPORT_PRECISIONS[0], show_default=True,
              help=f"One of {', '.join(EXPORT_PRECISIONS)}.")
@click.option("--image-size", type=int, default=None, help="Input size (default: arch's own).")
@setting_options("export", exclude=("artifacts", "onnx"))
@setting_options("quant")
@click.option("--artifacts", default=ExportOptions.artifacts, show_default=True,
              help="Cache for the intermediate files (the form-c graph of a form a/b export, the "
                   "fp32 file of an int8 one): --out gets the file asked for only.")
@click.option("--force", is_flag=True, help="Rebuild even if an identical export is cached.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def export(arch, out_dir, form, batch, precision, image_size, artifacts, force, as_json, **settings):
    """Export an arch to a checked ONNX file (cached by config hash); --precision int8 also
    quantizes it (QDQ, by NNCF or ONNX Runtime: --quantizer)."""
    from dataclasses import fields

    from .config import QuantOptions, build_section, check_setting
    from .exporters.onnx_export import ExportConfig, export_onnx

    quant_keys = {f.name for f in fields(QuantOptions)}
    moot = [cli_flag(k) for k in sorted(quant_keys) if settings.get(k) is not None]
    if moot and precision != "int8":
        raise UsageError(f"{', '.join(moot)}: quantization settings apply to --precision int8 "
                         f"only, not {precision}")
    quant = build_section("quant", {k: settings.pop(k) for k in list(settings) if k in quant_keys})
    given = {k: check_setting(k, v) for k, v in settings.items() if v is not None}
    cfg = ExportConfig(arch=arch, form=form, batch=_export_batch(batch), precision=precision,
                       image_size=image_size, **given)
    res = export_onnx(cfg, out_dir, force=force, quant=quant, cache_dir=artifacts)
    if as_json:
        _print_json(res.to_json())
        return
    s = res.summary
    if s["precision"] == "int8":
        _echo_quantized(res)
        return
    total = f", {s['total_seconds']:.1f} s with model build and checks" if s.get("total_seconds") else ""
    how = "cache hit" if res.cache_hit else (
        f"built from the form-c graph in {s['export_seconds']:.1f} s{total}" if s.get("built_from")
        else f"exported in {s['export_seconds']:.1f} s{total}")
    click.echo(f"{res.path}  ({how})")
    click.echo(f"  {s['arch']} form {s['form']}, {s['precision']}, batch {s['batch']}, "
               f"{s['image_size']}px, opset {s['opset']}, {s['exporter']} exporter")
    click.echo(f"  params {s['params'] / 1e6:.3f} M, MACs {s['macs'] / 1e9:.3f} G "
               f"(FLOPs {s['flops'] / 1e9:.3f} G = 2 x MACs), file {s['bytes'] / 1e6:.1f} MB")
    checks = ", ".join(f"batch {c['batch']}: max_abs_err {c['max_abs_err']:.2g}, "
                       f"top1 {c['top1_agreement']:.2f}" for c in s["checks"]["ort_cpu_vs_torch"])
    click.echo(f"  checks: onnx.checker ok; graph MACs = torch MACs; ORT CPU vs torch {checks}")


def _echo_quantized(res) -> None:
    q = res.summary["quantization"]
    how = "cache hit" if res.cache_hit else f"calibrated in {q['calibration_seconds']:.1f} s"
    click.echo(f"{res.path}  ({how})")
    rr = ", reduce_range" if q.get("reduce_range") else ""
    click.echo(f"  int8 QDQ by {q.get('library', q.get('quantizer'))} {q.get('library_version', '')} "
               f"({q['weights']} weights, {q['activations']} activations{rr}) of "
               f"{res.summary['fp32_path']}")
    asked = (f" (--calib-count {q['asked_count']}: the source has {q['count']})"
             if q.get("asked_count") not in (None, q["count"]) else "")
    click.echo(f"  calibration: {q['method']} on {q['count']} images{asked} ({q['source']}); "
               f"{res.summary['qdq_nodes']} Q/DQ nodes, file {res.summary['bytes'] / 1e6:.1f} MB")
    control = q.get("accuracy_control") or q.get("fallback")
    if control and control.get("measured"):
        from .exporters.int8_fallback import describe_best

        click.echo(f"  accuracy control ({control.get('library') or control.get('method')}): target "
                   f"{control['target_spec']} met on {control['control_images']} control images ({control['control']}): "
                   f"{describe_best(control['measured'])}; {q.get('float_nodes', 0)} layer(s) in float")


@main.command()
@click.option("--onnx", "onnx_path", required=True, help="The fp32 ONNX file to quantize.")
@click.option("--out", "out_dir", default=None, help="Output directory (default: beside the file).")
@setting_options("quant")
@click.option("--force", is_flag=True, help="Rebuild even if an identical file is cached.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def quantize(onnx_path, out_dir, force, as_json, **settings):
    """Write the int8 (QDQ, per-channel) file of an fp32 ONNX file, for deploying elsewhere
    (--quantizer nncf, the default, or ort; --int8-target for accuracy control)."""
    from .config import build_section
    from .exporters.int8 import make_int8

    res = make_int8(onnx_path, build_section("quant", settings), out_dir, force=force)
    if as_json:
        _print_json(res.to_json())
    else:
        _echo_quantized(res)


# ------------------------------------------------------------------------- bench / parity shared
def _combo_text(c) -> str:
    from .core.schema import settings_suffix

    return (f"{c.arch} form {c.form} {c.runtime} {c.device} {c.precision} batch {c.batch}"
            + (f" threads {c.threads}" if c.threads else "")
            + (f" {settings_suffix(c.settings)}" if c.settings else ""))


class _Progress:
    """Progress on stderr from the runner's events: one line per group, load, round and row,
    and an ETA from the time measured so far per unit of work (a configuration's load, each
    of its timed blocks, its finish), so groups of different sizes and rounds count right.
    A torch.compile load says it is compiling (it is silent for 20-60 s otherwise)."""

    def __init__(self, quiet: bool):
        import time as _time

        self.quiet, self.clock = quiet, _time.perf_counter
        self.started = self.clock()
        self.total_units = None
        self.units = 0

    def _eta(self) -> str:
        if not self.total_units or not self.units:
            return ""
        left = (self.clock() - self.started) / self.units * (self.total_units - self.units)
        return f", ETA {left:.0f}s" if left >= 1 else ""

    def __call__(self, kind, **e):
        if kind == "note":  # an option that changes nothing: said even with --quiet
            click.echo(f"note: {e['text']}", err=True)
            return
        if kind == "group" and self.total_units is None:
            self.rounds = e.get("rounds") or 1
            self.total_units = e["total"] * (self.rounds + 2)
        if kind == "load":
            self.units += 1
        elif kind == "block":
            self.units += 1
        elif kind == "row":  # the rest of its units: finish, or all of them when skipped
            self.units = max(self.units, e["done"] * (self.rounds + 2))
        if self.quiet:
            return
        if kind == "group":
            first = e["combos"][0]
            click.echo(f"[group {e['index'] + 1}/{e['groups']}{self._eta()}] {first.arch} "
                       f"{first.image_size}px: {len(e['combos'])} configuration(s), one worker "
                       "process each", err=True)
        elif kind == "load":
            compiling = (" (torch.compile: compiling, typically 20-60 s)"
                         if e["combo"].runtime == "torch-compile" else "")
            click.echo(f"  load {_combo_text(e['combo'])}{compiling}", err=True)
        elif kind == "round":
            click.echo(f"  round {e['round'] + 1}/{e['rounds']} over {e['size']} "
                       f"configuration(s){self._eta()}", err=True)
        elif kind == "row":
            row = e["row"]
            if not row.ok:
                click.echo(f"  [{e['done']}/{e['total']}] {_combo_text(row)}: {row.status}: {row.error}", err=True)
            else:
                p = row.parity_passed
                spread = (f", rounds spread {row.round_spread:.1%}"
                          if row.round_spread is not None and (row.rounds or 0) > 1 else "")
                click.echo(f"  [{e['done']}/{e['total']}{self._eta()}] {_combo_text(row)}: p50 "
                           f"{row.latency_p50_ms or float('nan'):.2f} ms{spread}, "
                           f"{row.throughput_ips or 0:.1f} img/s, parity "
                           f"{'pass' if p else ('FAIL' if p is False else '-')}", err=True)


def _progress_printer(quiet: bool):
    return _Progress(quiet)


def _default_run_dir() -> str:
    import datetime as _dt

    return "runs/" + _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def _exit_for(rows) -> None:
    from .core.schema import exit_code
    from .core.verdict import contention

    busy = [(r.host_load_cores, note) for r in rows if (note := contention(r))]
    if busy:
        click.echo(f"warning: {len(busy)} row(s) timed on a busy host -- {max(busy)[1]}", err=True)
    code = exit_code(rows)
    if code:
        click.echo(f"{sum(r.is_bad for r in rows)} combination(s) failed or missed parity", err=True)
        sys.exit(code)


# --------------------------------------------------------------------------------------- bench
@main.command()
@setting_options(*SECTIONS)
@click.option("--out", "out_dir", default=None, help="Run dir (default runs/<timestamp>).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON (samples omitted).")
@click.option("--dry-run", is_flag=True, help="List the configurations (in or out, and why) with "
              "an estimate from this machine's earlier measurements; measure nothing.")
def bench(out_dir, quiet, as_json, dry_run, **settings):
    """Measure archs x runtimes x batches x precisions; append rows to RUN_DIR/results.jsonl.

    Exit 1 if any combination failed or missed its parity tolerance.
    """
    from .bench.api import config_from_cli, run_bench
    from .reports.console import rows_table

    config = config_from_cli(settings)
    if dry_run:
        from .bench.api import dry_run as plan_only

        click.echo(plan_only(config))
        return
    rows, path = run_bench(config, out_dir or _default_run_dir(),
                           on_event=_progress_printer(quiet or as_json))
    if as_json:
        _print_json([r.to_json(samples=False) for r in rows])
    else:
        click.echo(rows_table(rows))
        click.echo(f"results: {path}")
    _exit_for(rows)


# -------------------------------------------------------------------------------------- parity
@main.command()
@setting_options(*(s for s in SECTIONS if s != "timing"), exclude=("parity",))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def parity(as_json, **settings):
    """Check runtimes' logits against PyTorch fp32 eager (no timing), and every residual
    branch, block and stage output layer by layer (bf16, fp16, int8 and --onnx files; --layers:
    every row, with the per-layer table). Exit 1 on a failure."""
    from .bench.api import config_from_cli, run_parity
    from .reports.console import PARITY_COLUMNS, rows_table

    rows = run_parity(config_from_cli(settings), on_event=_progress_printer(True))
    if as_json:
        _print_json([r.to_json() for r in rows])
    else:
        click.echo(rows_table(rows, PARITY_COLUMNS))
        if settings.get("layers"):  # --layers: the per-layer table of each row
            from .reports.console import layer_profiles

            click.echo(layer_profiles(rows))
    _exit_for(rows)


# -------------------------------------------------------------------------------------- doctor
@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def doctor(as_json):
    """Explain this machine: torch build, CUDA, ONNX Runtime package and providers, TensorRT.

    Exit 1 when a problem is found (e.g. onnxruntime and onnxruntime-gpu both installed).
    """
    from .bench.doctor import diagnose

    report = diagnose()
    if as_json:
        _print_json(report)
    else:
        for section, lines in report["sections"].items():
            click.echo(f"{section}:")
            for line in lines:
                click.echo(f"  {line}")
        for p in report["problems"]:
            click.echo(f"PROBLEM: {p}")
        if not report["problems"]:
            click.echo("no problems found")
        click.echo("next: `resnext-bench bench --arch resnext50_32x4d --runtime all --images "
                   "builtin` (every runtime above), or `resnext-bench tune --arch "
                   "resnext50_32x4d` (the configuration to deploy here)")
    if report["problems"]:
        sys.exit(1)


# --------------------------------------------------------------------------------------- sweep
def _help_config(ctx, _param, value):
    if value and not ctx.resilient_parsing:
        click.echo(render_settings_help())
        ctx.exit(0)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, help="Run dir (results appended).")
@click.option("--resume", is_flag=True, help="Skip combinations already recorded ok in RUN_DIR "
              "(refused when RUN_DIR was measured with other result settings).")
@click.option("--allow-changed", is_flag=True, help="With --resume: accept changed result "
              "settings (weights, seed, timing, ...); env.json records both.")
@click.option("--shard", default=None, help="Run slice I of N (e.g. 2/4) of the combinations.")
@click.option("--executor", default="local", show_default=True,
              help="local, or ray: each measurement group a Ray task (pip install 'resnext-bench[ray]').")
@click.option("--ray-address", default=None, help="Ray cluster address (default: start a local Ray).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@click.option("--help-config", is_flag=True, expose_value=False, is_eager=True, callback=_help_config,
              help="List the TOML keys (defaults, allowed values, matching CLI flags) and exit.")
@click.option("--dry-run", is_flag=True, help="List the configurations this would run (after "
              "--resume and --shard) with an estimate; measure nothing.")
def sweep(config, out_dir, resume, allow_changed, shard, executor, ray_address, quiet, dry_run):
    """Run every combination of a TOML config; unusable runtimes become skipped rows."""
    from .bench.api import run_sweep

    if dry_run:
        from .bench.api import dry_run_sweep

        click.echo(dry_run_sweep(config, out_dir, resume=resume, shard=shard))
        return

    def on_start(todo, already):
        if not quiet:
            click.echo(f"sweep {config}: {len(todo)} to run"
                       + (f", {len(already)} already done" if already else "")
                       + (f" (shard {shard})" if shard else ""), err=True)

    rows, path = run_sweep(config, out_dir, resume=resume, shard=shard, executor=executor,
                           ray_address=ray_address, on_start=on_start,
                           on_event=_progress_printer(quiet), allow_changed=allow_changed)
    n = {s: sum(r.status == s for r in rows) for s in ("ok", "skipped", "failed")}
    click.echo(f"{n['ok']} ok, {n['skipped']} skipped, {n['failed']} failed -> {path}")
    _exit_for(rows)


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", "out_dir", required=True, help="New run dir for the merged rows.")
def merge(run_dirs, out_dir):
    """Merge run dirs (e.g. the shards of a sweep) into one."""
    from .core.rundir import merge_runs

    info = merge_runs(list(run_dirs), out_dir)
    for message in info["skipped"]:
        click.echo(f"warning: {message}", err=True)
    click.echo(f"merged {info['rows']} rows ({info['configs']} configs; every row kept, raw samples "
               f"included) from {len(run_dirs)} run dir(s) into {out_dir}")


# -------------------------------------------------------------------------------------- report
@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["md", "html", "csv", "parquet"]), default="md",
              show_default=True)
@click.option("--out", "out_path", default=None, help="Write here (default: stdout; parquet needs it).")
def report(run_dir, fmt, out_path):
    """Render a run dir as markdown, self-contained HTML, CSV or parquet."""
    from .reports.render import write_report

    text = write_report(_load_run(run_dir), fmt, out_path)
    if text is not None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {out_path}", err=True)


# ------------------------------------------------------------------------------------- compare
@main.command()
@click.argument("base_run")
@click.argument("new_run", type=click.Path(file_okay=False))
@click.option("--store", default=DEFAULT_BASELINE_STORE, show_default=True,
              help="Where baselines are stored (BASE_RUN given as baseline:NAME).")
@click.option("--allow-other-machine", is_flag=True,
              help="Compare with a baseline measured on another machine (CPU, GPU, CPU set).")
@click.option("--threshold", type=click.FloatRange(0, 10), default=0.05, show_default=True,
              help="Relative slowdown that counts as a regression.")
@click.option("--p99-threshold", type=click.FloatRange(0, 10), default=None,
              help="Also gate on p99 (rows with >= 1000 samples).")
@click.option("--throughput-threshold", type=click.FloatRange(0, 10), default=None,
              help="Also gate on a throughput drop.")
@click.option("--allow-missing", is_flag=True, help="A config missing from NEW_RUN is not a regression.")
@click.option("--hide-unchanged", is_flag=True, help="List only configs whose verdict is not 'unchanged'.")
@click.option("--fail-on-inconclusive", is_flag=True,
              help="Exit 3 when no regression was found but some verdict could not be reached "
                   "(too few rounds, busy host, change within the noise).")
@click.option("--format", "fmt", type=click.Choice(["text", "md", "json"]), default="text",
              show_default=True, help="md: a compact CI job summary (details collapsed).")
@click.option("--junit", default=None, metavar="PATH",
              help="Also write the verdicts as JUnit XML (a test case per configuration; a "
                   "regression is a failure, inconclusive a skipped case with the reason).")
@click.option("--no-history", is_flag=True,
              help="Do not use this machine's timing history (the artifacts dir's "
                   "measured-times.jsonl) as a floor for the between-run noise.")
def compare(base_run, new_run, store, allow_other_machine, threshold, p99_threshold,
            throughput_threshold, allow_missing, hide_unchanged, fail_on_inconclusive, fmt, junit,
            no_history):
    """Compare two stored runs config by config (history); exit 1 on a regression.

    BASE_RUN: a run dir, or baseline:NAME (saved with `baseline save`; its machine must be this
    run's, or --allow-other-machine).

    A slowdown counts only beyond both --threshold and the runs' own between-round noise; where
    both runs timed the control workload, each round is divided by the control's (the machine's
    drift between the runs divided out), and this machine's history of the configuration sets a
    floor for the noise. Also
    regressions: parity pass -> fail, ok -> failed or skipped, a config missing from NEW_RUN.
    For a CI gate, `ab` (both sides measured interleaved in one job) is the better tool.
    """
    from .reports.compare import compare_runs, render

    if junit:
        from .core.fileio import check_output

        check_output(junit, "--junit")
    base = _load_run(_resolve_baseline(base_run, store))
    new = _load_run(new_run)
    if base_run.startswith("baseline:"):
        from .core.baseline import machine_differences

        other = machine_differences(base.env, new.env)
        if other and not allow_other_machine:
            raise UsageError(f"{base_run} was measured on another machine ({'; '.join(other[:2])}): "
                             "timings of two machines are not a regression; save a baseline on this "
                             "machine, or --allow-other-machine")
    cmp = compare_runs(base, new, threshold, allow_missing=allow_missing,
                       p99_threshold=p99_threshold, throughput_threshold=throughput_threshold,
                       history=[] if no_history else None)
    click.echo(render(cmp, fmt, hide_unchanged=hide_unchanged))
    if junit:
        from .core.fileio import write_output_text
        from .reports.junit import compare_junit

        write_output_text(junit, compare_junit(cmp), "--junit")
    if cmp.regressions:
        sys.exit(1)
    if fail_on_inconclusive and cmp.inconclusive:
        sys.exit(INCONCLUSIVE_EXIT)


def _resolve_baseline(ref: str, store: str) -> str:
    if ref.startswith("baseline:"):
        from .core.baseline import baseline_dir

        return str(baseline_dir(ref, store))
    return ref


@main.group()
def baseline():
    """Stored baselines: keep a run under a name, compare later runs with it."""


@baseline.command("save")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--name", default="main", show_default=True, help="The baseline's name.")
@click.option("--store", default=DEFAULT_BASELINE_STORE, show_default=True,
              help="Where baselines are stored (cache or upload this folder in CI).")
def baseline_save(run_dir, name, store):
    """Store RUN_DIR as baseline NAME (replacing an older one whole)."""
    from .core.baseline import save_baseline

    rec = save_baseline(run_dir, name, store)
    cpu = rec["machine"].get("cpu") or "unknown machine"
    click.echo(f"baseline {name}: {rec['rows']} rows from {run_dir} ({cpu}, commit "
               f"{(rec['git_commit'] or '?')[:12]}) -> {store}/{name}; compare with "
               f"`resnext-bench compare baseline:{name} NEW_RUN"
               + ("" if store == DEFAULT_BASELINE_STORE else f" --store {shlex.quote(str(store))}")
               + "`")


@baseline.command("list")
@click.option("--store", default=DEFAULT_BASELINE_STORE, show_default=True)
def baseline_list(store):
    """The stored baselines, with their machine and commit."""
    from pathlib import Path

    from .core.baseline import list_baselines, read_record

    names = list_baselines(store)
    if not names:
        click.echo(f"no baselines in {store}")
    for n in names:
        rec = read_record(Path(store) / n)
        click.echo(f"{n}: {rec.get('rows', '?')} rows, saved {rec.get('saved_at', '?')}, "
                   f"{(rec.get('machine') or {}).get('cpu') or '?'}, commit {(rec.get('git_commit') or '?')[:12]}")


# ------------------------------------------------------------------------------------------ ab
@main.command()
@click.argument("base", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@setting_options("plan", "timing", "parity", "cuda", "ort", "tensorrt", "openvino",
                 exclude=("forms",), defaults={"runtimes": ("ort-cpu",), "processes": "--rounds"})
@click.option("--artifacts", default=None, help="Weights / engine cache dir.  [default: artifacts]")
@click.option("--base-set", multiple=True, metavar="KEY=VALUE",
              help="A setting for the base side only (repeatable), e.g. threads=1.")
@click.option("--new-set", multiple=True, metavar="KEY=VALUE",
              help="A setting for the new side only (repeatable), e.g. graph_opt_level=basic.")
@click.option("--threshold", type=click.FloatRange(0, 10), default=0.05, show_default=True,
              help="Relative slowdown that counts as a regression.")
@click.option("--out", "out_dir", default=None, help="Run dir for both rows (default runs/ab-<timestamp>).")
@click.option("--format", "fmt", type=click.Choice(["text", "md", "json"]), default="text",
              show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@click.option("--fail-on-inconclusive", is_flag=True,
              help="Exit 3 when the verdict could not be reached (busy host, change within the noise).")
@click.option("--settle-time", type=float, default=120.0, show_default=True,
              help="Seconds (from the start) within which more jobs of rounds are measured while "
                   "the interval is undecided (a busy host); 0: one job only.")
@click.option("--junit", default=None, metavar="PATH",
              help="Also write the verdict as JUnit XML (one test case; a regression is a "
                   "failure, inconclusive a skipped case with the reason).")
def ab(base, new, artifacts, base_set, new_set, threshold, out_dir, fmt, quiet,
       fail_on_inconclusive, settle_time, junit, **settings):
    """A/B-test two ONNX files (or one file under two settings), interleaved in one job.

    Both sides are measured round by round on this machine, each in its own worker, so drift of
    a shared machine hits them alike; the verdict uses the per-round ratios new/base. Exit 0: no
    regression; 1: NEW is slower beyond --threshold and significantly, fails parity, or failed;
    2: usage error; 3: with --fail-on-inconclusive, the verdict could not be reached (busy host,
    a change within the noise, or BASE failed: nothing to compare NEW with). This is the gate for CI; `compare` is for history. --runtime defaults to
    ort-cpu here (the files are what differs), and each side must come to one configuration.
    """
    from .bench.api import run_ab
    from .reports.ab import ab_verdict, render_ab, worth_another_job

    settings["artifacts"] = artifacts
    if out_dir is None:
        out_dir = _default_run_dir().replace("runs/", "runs/ab-")
    if not 0 <= settle_time <= 3600:
        raise UsageError(f"--settle-time {settle_time}: must be between 0 and 3600 seconds")
    if junit:  # refused before the measurement, not after it
        from .core.fileio import check_output

        check_output(junit, "--junit")

    widths: list[float] = []

    def unsettled(pairs):
        *earlier, (b, n) = pairs
        return worth_another_job(ab_verdict(b, n, threshold, earlier).verdict, widths)

    base_row, new_row, _, pairs = run_ab(
        base, new, settings, base_set=base_set, new_set=new_set, out_dir=out_dir,
        on_event=_progress_printer(quiet or fmt == "json"), settle_seconds=settle_time,
        unsettled=unsettled)
    res = ab_verdict(base_row, new_row, threshold, pairs[:-1])
    click.echo(render_ab(res, fmt))
    if junit:
        from .reports.junit import ab_junit

        from .core.fileio import write_output_text

        write_output_text(junit, ab_junit(res), "--junit")
    if res.is_regression:
        sys.exit(1)
    if fail_on_inconclusive and res.inconclusive:
        sys.exit(INCONCLUSIVE_EXIT)


# ---------------------------------------------------------------------------------------- tune
@main.command()
@click.option("--arch", required=True, help="The arch to deploy, e.g. resnext50_32x4d.")
@click.option("--objective", default="latency", show_default=True,
              help="latency (p50 per call) or throughput (time per image).")
@click.option("--max-latency-ms", type=float, default=None, help="Latency budget (p99 of the answer; "
              "a candidate whose p50 is already over it is out).")
@click.option("--min-throughput", type=float, default=None, help="Images/s floor.")
@click.option("--max-accuracy-drop", type=float, default=None,
              help="Most top-1 drop in points vs torch fp32 (needs a labeled --images folder).")
@click.option("--batch", default=None, help="N, or auto (throughput objective: 1, 4, 16). Default: 1 "
              "for latency, auto for throughput.")
@click.option("--budget-minutes", type=float, default=10.0, show_default=True,
              help="Wall-clock budget of the whole tune (training, exports, int8 calibration, "
              "the search, the confirmation and the bundle); refused up front, with the "
              "estimate, when this machine's history says it cannot fit.")
@click.option("--runtime", "runtimes", default=None, help="Only these runtimes (default: every one usable here).")
@click.option("--precision", "precisions", default=None, help="Only these precisions (default: every "
              "one worth trying here); the default configuration (ort-cpu fp32) is measured anyway.")
@click.option("--image-size", type=int, default=None, help="Input size (default: the arch's own).")
@setting_options("parity", exclude=("parity", "rtol", "min_cosine", "min_top1", "max_accuracy_drop_pct"))
@setting_options("quant", exclude=("quantizer", "int8_target", "int8_max_float", "calib_method",
                                   "quant_activations"))
@setting_options("export", exclude=("onnx", "opset", "exporter"))
@click.option("--out", "out_dir", default=None, help="Run dir (default runs/tune-<timestamp>).")
@click.option("--dry-run", is_flag=True, help="List the candidates, each with why it is in or out.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@click.option("--json", "as_json", is_flag=True, help="The answer as JSON.")
def tune(arch, objective, max_latency_ms, min_throughput, max_accuracy_drop, batch,
         budget_minutes, runtimes, precisions, image_size, out_dir, dry_run, quiet, as_json,
         **settings):
    """Find the configuration to deploy on this machine: candidates from its ISA and runtimes,
    a race (one short block each, parity on --images, default the built-in photos; 3x slower
    is out), interleaved screens judged by the interval as `ab` judges (a fresh worker per
    candidate and round), the pick confirmed against the default in one paired stage -- and
    deployed only when confirmed faster -- and a bundle.

    Exit 0 with an answer; 1 when no candidate meets the constraints; 2 usage error.
    """
    from .tune.candidates import render_candidates
    from .tune.run import render_answer, run_tune

    names = [n.strip() for n in runtimes.split(",") if n.strip()] if runtimes else None
    if names:
        from .config import RUNTIME_NAMES

        bad = [n for n in names if n not in RUNTIME_NAMES]
        if bad:
            raise UsageError(f"--runtime {','.join(bad)}: must be among {', '.join(RUNTIME_NAMES)}")
    precs = [p.strip() for p in precisions.split(",") if p.strip()] if precisions else None
    if precs:
        from .config import PRECISIONS

        bad = [p for p in precs if p not in PRECISIONS]
        if bad:
            raise UsageError(f"--precision {','.join(bad)}: must be among {', '.join(PRECISIONS)}")
    if objective == "throughput" and batch is None:
        batch = "auto"
    out_dir = out_dir or _default_run_dir().replace("runs/", "runs/tune-")
    progress = _progress_printer(quiet or as_json)
    settings["image_sizes"] = image_size

    def on_stage(rec):
        if not (quiet or as_json):
            load = "" if rec.load_cores is None else f", other processes held {rec.load_cores:.1f} CPUs"
            click.echo(f"stage {rec.index} ({rec.kind}): {rec.members} candidate(s), "
                       f"{rec.timing['rounds']} round(s), {rec.seconds:.0f} s{load}; beaten "
                       f"{len(rec.beaten)}, out {len(rec.out)}", err=True)

    res = run_tune(arch, out_dir, objective=objective, budget_minutes=budget_minutes, batch=batch,
                   max_latency_ms=max_latency_ms, min_throughput=min_throughput,
                   max_accuracy_drop=max_accuracy_drop, runtimes=names, settings=settings,
                   dry_run=dry_run, on_event=progress, on_stage=on_stage, precisions=precs)
    if dry_run:
        cs = res["candidate_set"]
        click.echo(json.dumps(cs.to_json(), indent=2) if as_json else render_candidates(cs))
        return
    click.echo(json.dumps(res, indent=2, default=str) if as_json else render_answer(res))
    if not as_json:
        click.echo(f"results: {out_dir}/results.jsonl; search record: {out_dir}/tune.json")
    if not res["found"]:
        sys.exit(1)


# ----------------------------------------------------------------------------------- recommend
@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--arch", default=None, help="Only this arch (default: one recommendation per arch).")
@click.option("--form", default=None, help="Only this block form.")
@click.option("--runtime", default=None, help="Only this runtime.")
@click.option("--max-latency-ms", type=float, default=None, help="Latency budget (see --latency-metric).")
@click.option("--latency-metric", type=click.Choice(["p50", "p90", "p95", "p99"]), default="p99",
              show_default=True)
@click.option("--min-throughput", type=float, default=None, help="Images/s floor.")
@click.option("--batch", type=int, default=None)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None)
@click.option("--objective", type=click.Choice(["latency", "throughput"]), default="latency",
              show_default=True)
@click.option("--max-accuracy-drop", type=float, default=None,
              help="Most top-1 accuracy drop against torch fp32, in points (rows measured on a "
                   "labeled --images folder; the point estimate, its 95 % interval is shown).")
@click.option("--all-devices", is_flag=True,
              help="Rank rows of different device models together (default: one ranking per model).")
@click.option("--json", "as_json", is_flag=True)
def recommend(run_dir, arch, form, runtime, max_latency_ms, latency_metric, min_throughput, batch,
              device, objective, max_accuracy_drop, all_devices, as_json):
    """The best parity-passing config under constraints, per arch, as a deployment: artifact
    with sha256, the export command, the runtime settings as code. Exit 1 if nothing fits."""
    from .reports.recommend import check_constraints, recommend_run, render_text

    constraints = dict(arch=arch, form=form, runtime=runtime, max_latency_ms=max_latency_ms,
                       min_throughput=min_throughput, batch=batch, device=device,
                       objective=objective, latency_metric=latency_metric,
                       max_accuracy_drop=max_accuracy_drop)
    check_constraints(**constraints)  # before reading the run: bad input is exit 2 either way
    res = recommend_run(_load_run(run_dir), all_devices=all_devices, **constraints)
    click.echo(json.dumps(res, indent=2, default=str) if as_json else render_text(res))
    if not res["found"]:
        sys.exit(1)
