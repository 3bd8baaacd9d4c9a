"""What this machine and this tool know: ``list``, ``info``, ``doctor``."""

from __future__ import annotations

import sys

import click

from ..config import FORMS
from .app import _print_json, main


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(as_json):
    """Arch grammar with examples, and the runtimes with whether they are usable here."""
    from ..models.spec import EXAMPLES, GRAMMAR
    from ..runtimes import describe_runtimes

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


@main.command()
@click.option("--arch", required=True, help="Architecture name, e.g. resnext50_32x4d.")
@click.option("--image-size", type=int, default=None, help="Input size (default: arch's own).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(arch, image_size, as_json):
    """Params, MACs, FLOPs (= 2 x MACs) and per-stage widths of an arch."""
    from ..models.info import arch_info

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


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def doctor(as_json):
    """Explain this machine: torch build, CUDA, ONNX Runtime package and providers, TensorRT.

    Exit 1 when a problem is found (e.g. onnxruntime and onnxruntime-gpu both installed).
    """
    from ..bench.doctor import diagnose

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
