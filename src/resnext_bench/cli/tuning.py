"""``tune``: what to deploy on this machine."""

from __future__ import annotations

import json
import sys

import click

from ..core.errors import UsageError
from .app import main
from .measure import _default_run_dir
from .options import setting_options
from .progress import _progress_printer


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
    from ..tune.candidates import render_candidates
    from ..tune.run import render_answer, run_tune

    names = [n.strip() for n in runtimes.split(",") if n.strip()] if runtimes else None
    if names:
        from ..config import RUNTIME_NAMES

        bad = [n for n in names if n not in RUNTIME_NAMES]
        if bad:
            raise UsageError(f"--runtime {','.join(bad)}: must be among {', '.join(RUNTIME_NAMES)}")
    precs = [p.strip() for p in precisions.split(",") if p.strip()] if precisions else None
    if precs:
        from ..config import PRECISIONS

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
