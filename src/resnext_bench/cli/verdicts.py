"""Reading runs: ``report``, ``compare``, ``baseline``, ``ab``, ``recommend``."""

from __future__ import annotations

import json
import shlex
import sys

import click

from ..config import ONNX_RUNTIME_SECTIONS
from ..core.errors import UsageError
from .app import DEFAULT_BASELINE_STORE, INCONCLUSIVE_EXIT, _load_run, main
from .measure import _default_run_dir
from .options import setting_options
from .progress import _progress_printer


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["md", "html", "csv", "parquet"]), default="md",
              show_default=True)
@click.option("--out", "out_path", default=None, help="Write here (default: stdout; parquet needs it).")
def report(run_dir, fmt, out_path):
    """Render a run dir as markdown, self-contained HTML, CSV or parquet."""
    from ..reports.render import write_report

    text = write_report(_load_run(run_dir), fmt, out_path)
    if text is not None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {out_path}", err=True)


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
    from ..reports.compare import compare_runs, render

    if junit:
        from ..core.fileio import check_output

        check_output(junit, "--junit")
    base = _load_run(_resolve_baseline(base_run, store))
    new = _load_run(new_run)
    if base_run.startswith("baseline:"):
        from ..core.baseline import machine_differences

        other = machine_differences(base.env, new.env)
        if other and not allow_other_machine:
            raise UsageError(f"{base_run} was measured on another machine ({'; '.join(other[:2])}): "
                             "timings of two machines are not a regression; save a baseline on this "
                             "machine, or --allow-other-machine")
    cmp = compare_runs(base, new, threshold, allow_missing=allow_missing,
                       p99_threshold=p99_threshold, throughput_threshold=throughput_threshold,
                       history=[] if no_history else None)
    click.echo(render(cmp, fmt, hide_unchanged=hide_unchanged))
    from ..reports.junit import compare_junit

    _gate_exit(junit, lambda: compare_junit(cmp), bool(cmp.regressions),
               fail_on_inconclusive and bool(cmp.inconclusive))


def _gate_exit(junit: str | None, junit_xml, regression: bool, inconclusive: bool) -> None:
    """The end of a CI gate (``compare``, ``ab``): the JUnit file if asked, then exit 1 on a
    regression, 3 on an inconclusive verdict when --fail-on-inconclusive asked for it."""
    if junit:
        from ..core.fileio import write_output_text

        write_output_text(junit, junit_xml(), "--junit")
    if regression:
        sys.exit(1)
    if inconclusive:
        sys.exit(INCONCLUSIVE_EXIT)


def _resolve_baseline(ref: str, store: str) -> str:
    if ref.startswith("baseline:"):
        from ..core.baseline import baseline_dir

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
    from ..core.baseline import save_baseline

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

    from ..core.baseline import list_baselines, read_record

    names = list_baselines(store)
    if not names:
        click.echo(f"no baselines in {store}")
    for n in names:
        rec = read_record(Path(store) / n)
        click.echo(f"{n}: {rec.get('rows', '?')} rows, saved {rec.get('saved_at', '?')}, "
                   f"{(rec.get('machine') or {}).get('cpu') or '?'}, commit {(rec.get('git_commit') or '?')[:12]}")


@main.command()
@click.argument("base", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@setting_options("plan", "timing", "parity", *ONNX_RUNTIME_SECTIONS,
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
    from ..bench.api import run_ab
    from ..reports.ab import ab_verdict, render_ab

    settings["artifacts"] = artifacts
    if out_dir is None:
        out_dir = _default_run_dir().replace("runs/", "runs/ab-")
    if not 0 <= settle_time <= 3600:
        raise UsageError(f"--settle-time {settle_time}: must be between 0 and 3600 seconds")
    if junit:  # refused before the measurement, not after it
        from ..core.fileio import check_output

        check_output(junit, "--junit")

    base_row, new_row, _, pairs = run_ab(
        base, new, settings, base_set=base_set, new_set=new_set, out_dir=out_dir,
        on_event=_progress_printer(quiet or fmt == "json"), settle_seconds=settle_time,
        threshold=threshold)
    res = ab_verdict(base_row, new_row, threshold, pairs[:-1])
    click.echo(render_ab(res, fmt))
    from ..reports.junit import ab_junit

    _gate_exit(junit, lambda: ab_junit(res), res.is_regression, fail_on_inconclusive and res.inconclusive)


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
    from ..config import check_constraints
    from ..reports.recommend import recommend_run, render_text

    constraints = dict(arch=arch, form=form, runtime=runtime, max_latency_ms=max_latency_ms,
                       min_throughput=min_throughput, batch=batch, device=device,
                       objective=objective, latency_metric=latency_metric,
                       max_accuracy_drop=max_accuracy_drop)
    check_constraints(**constraints)  # before reading the run: bad input is exit 2 either way
    res = recommend_run(_load_run(run_dir), all_devices=all_devices, **constraints)
    click.echo(json.dumps(res, indent=2, default=str) if as_json else render_text(res))
    if not res["found"]:
        sys.exit(1)
