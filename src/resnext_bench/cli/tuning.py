"""``tune``: what to deploy on this machine."""

from __future__ import annotations

import json
import sys

import click

from ..tune.options import option_fields
from .app import main
from .measure import _default_run_dir
from .options import dataclass_options, setting_options
from .progress import _progress_printer


@main.command()
@dataclass_options(option_fields())
@setting_options("parity", exclude=("parity", "rtol", "min_cosine", "min_top1", "max_accuracy_drop_pct"))
@setting_options("quant", exclude=("quantizer", "int8_target", "int8_max_float", "calib_method",
                                   "quant_activations"))
@setting_options("export", exclude=("onnx", "opset", "exporter"))
@click.option("--out", "out_dir", default=None, help="Run dir (default runs/tune-<timestamp>).")
@click.option("--dry-run", is_flag=True, help="List the candidates, each with why it is in or out.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@click.option("--json", "as_json", is_flag=True, help="The answer as JSON.")
def tune(out_dir, dry_run, quiet, as_json, **values):
    """Find the configuration to deploy on this machine: candidates from its ISA and runtimes,
    a race (one short block each, parity on --images, default the built-in photos; 3x slower
    is out), interleaved screens judged by the interval as `ab` judges (a fresh worker per
    candidate and round), the pick confirmed against the default in one paired stage -- and
    deployed only when confirmed faster -- and a bundle.

    Exit 0 with an answer; 1 when no candidate meets the constraints; 2 usage error.
    """
    from ..tune.options import TuneOptions

    names = {f.name for f in option_fields()}
    opts = TuneOptions.from_values({k: v for k, v in values.items() if k in names},
                                   settings={k: v for k, v in values.items() if k not in names})
    if dry_run:
        from ..tune.candidates import render_candidates
        from ..tune.run import candidate_set

        cs = candidate_set(opts)
        click.echo(json.dumps(cs.to_json(), indent=2) if as_json else render_candidates(cs))
        return
    from ..tune.run import run_tune

    out_dir = out_dir or _default_run_dir().replace("runs/", "runs/tune-")
    progress = _progress_printer(quiet or as_json)

    def on_stage(rec):
        if not (quiet or as_json):
            load = "" if rec.load_cores is None else f", other processes held {rec.load_cores:.1f} CPUs"
            click.echo(f"stage {rec.index} ({rec.kind}): {rec.members} candidate(s), "
                       f"{rec.timing['rounds']} round(s), {rec.seconds:.0f} s{load}; beaten "
                       f"{len(rec.beaten)}, out {len(rec.out)}", err=True)

    res = run_tune(opts, out_dir, on_event=progress, on_stage=on_stage)
    click.echo(json.dumps(res.to_json(), indent=2, default=str) if as_json else res.render())
    if not as_json:
        click.echo(f"results: {out_dir}/results.jsonl; search record: {out_dir}/tune.json")
    if not res.found:
        sys.exit(1)
