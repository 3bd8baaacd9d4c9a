"""Measuring: ``bench``, ``parity``, ``sweep``, ``merge``."""

from __future__ import annotations

import sys

import click

from ..config import SECTIONS
from .app import _print_json, main
from .options import _help_config, setting_options
from .progress import _progress_printer


def _default_run_dir() -> str:
    import datetime as _dt

    return "runs/" + _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def _exit_for(rows) -> None:
    from ..core.schema import exit_code
    from ..core.verdict import contention

    busy = [(r.host_load_cores, note) for r in rows if (note := contention(r))]
    if busy:
        click.echo(f"warning: {len(busy)} row(s) timed on a busy host -- {max(busy)[1]}", err=True)
    code = exit_code(rows)
    if code:
        click.echo(f"{sum(r.is_bad for r in rows)} combination(s) failed or missed parity", err=True)
        sys.exit(code)


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
    from ..bench.api import config_from_cli, run_bench
    from ..reports.console import rows_table

    config = config_from_cli(settings)
    if dry_run:
        from ..bench.api import dry_run as plan_only

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


@main.command()
@setting_options(*(s for s in SECTIONS if s not in ("timing", "serve")), exclude=("parity",))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def parity(as_json, **settings):
    """Check runtimes' logits against PyTorch fp32 eager (no timing), and every residual
    branch, block and stage output layer by layer (bf16, fp16, int8 and --onnx files; --layers:
    every row, with the per-layer table). Exit 1 on a failure."""
    from ..bench.api import config_from_cli, run_parity
    from ..reports.console import PARITY_COLUMNS, rows_table

    rows = run_parity(config_from_cli(settings), on_event=_progress_printer(True))
    if as_json:
        _print_json([r.to_json() for r in rows])
    else:
        click.echo(rows_table(rows, PARITY_COLUMNS))
        if settings.get("layers"):  # --layers: the per-layer table of each row
            from ..reports.console import layer_profiles

            click.echo(layer_profiles(rows))
    _exit_for(rows)


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
    from ..bench.api import run_sweep

    if dry_run:
        from ..bench.api import dry_run_sweep

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
    from ..core.rundir import merge_runs

    info = merge_runs(list(run_dirs), out_dir)
    for message in info["skipped"]:
        click.echo(f"warning: {message}", err=True)
    click.echo(f"merged {info['rows']} rows ({info['configs']} configs; every row kept, raw samples "
               f"included) from {len(run_dirs)} run dir(s) into {out_dir}")
