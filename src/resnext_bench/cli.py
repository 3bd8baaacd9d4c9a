"""The ``resnext-bench`` command line.

This module imports nothing heavy at module level (no torch, onnx, onnxruntime, tensorrt,
pandas): each command imports what it needs when it runs, so ``--help`` is instant and a
command for one runtime never loads another's library.

Exit codes (the contract CI scripts rely on): 0 ok; 1 a regression was found or a check failed;
2 usage or input error (one line on stderr, no traceback).
"""

from __future__ import annotations

import json
import sys

import click

from . import __version__
from .errors import UsageError


class _Group(click.Group):
    """Turn the tool's own error types into one-line messages with the documented exit codes."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            from .exporters.onnx_export import ExportCheckError

            if isinstance(exc, ExportCheckError):
                click.echo(f"check failed: {exc}", err=True)
                sys.exit(1)
            raise


def _int_list(value: str, what: str) -> list[int]:
    try:
        out = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{what} must be a comma-separated list of integers, got {value!r}") from None
    if not out or any(v < 1 for v in out):
        raise UsageError(f"{what} must be positive integers, got {value!r}")
    return out


def _str_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _batch_option(value: str) -> int | None:
    """export's --batch: 'dynamic' (None) or one static N."""
    if value.strip().lower() == "dynamic":
        return None
    values = _int_list(value, "--batch")
    if len(values) != 1:
        raise UsageError("--batch for export takes one value: 'dynamic' or N")
    return values[0]


def _print_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="resnext-bench")
def main():
    """Export the ResNeXt family to ONNX, benchmark it on several runtimes, and compare.

    \b
    Exit codes: 0 ok, 1 regression found / check failed, 2 usage or input error.
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
        _print_json({"grammar": GRAMMAR, "examples": list(EXAMPLES), "forms": ["a", "b", "c"],
                     "runtimes": runtimes})
        return
    click.echo(f"archs: {GRAMMAR}")
    click.echo(f"  examples: {', '.join(EXAMPLES)}")
    click.echo("  forms: a (C branches summed), b (branches concatenated + one 1x1), c (grouped conv; default)")
    click.echo("runtimes:")
    for r in runtimes:
        mark = "yes" if r["available"] else "no "
        click.echo(f"  {r['name']:<9} {mark}  {r['reason']}")


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


# -------------------------------------------------------------------------------------- export
@main.command()
@click.option("--arch", required=True, help="Architecture name, e.g. resnext50_32x4d.")
@click.option("--out", "out_dir", default="artifacts", show_default=True, help="Output directory.")
@click.option("--form", type=click.Choice(["a", "b", "c"]), default="c", show_default=True,
              help="Block form: a summed branches, b concatenated branches, c grouped conv.")
@click.option("--opset", type=int, default=18, show_default=True)
@click.option("--batch", default="dynamic", show_default=True, help="'dynamic' or a static N.")
@click.option("--precision", type=click.Choice(["fp32", "fp16"]), default="fp32", show_default=True)
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint file (torchvision key names); default: calibrated seeded weights.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the default weights.")
@click.option("--image-size", type=int, default=None, help="Input size (default: arch's own).")
@click.option("--exporter", type=click.Choice(["dynamo", "torchscript"]), default="dynamo",
              show_default=True)
@click.option("--force", is_flag=True, help="Rebuild even if an identical export is cached.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def export(arch, out_dir, form, opset, batch, precision, weights, seed, image_size, exporter,
           force, as_json):
    """Export an arch to a checked ONNX file (cached by config hash)."""
    from .exporters.onnx_export import ExportConfig, export_onnx

    cfg = ExportConfig(arch=arch, form=form, opset=opset, batch=_batch_option(batch),
                       precision=precision, image_size=image_size, seed=seed, weights=weights,
                       exporter=exporter)
    cfg.validate()
    res = export_onnx(cfg, out_dir, force=force)
    if as_json:
        s = res.summary
        _print_json({"path": str(res.path), "cache_hit": res.cache_hit, "opset": s["opset"],
                     "exporter": s["exporter"], "params": s["params"], "macs": s["macs"],
                     "flops": s["flops"], "bytes": s["bytes"], "export_seconds": s["export_seconds"],
                     "precision": s["precision"], "batch": s["batch"], "image_size": s["image_size"],
                     "form": s["form"], "config_hash": s["config_hash"],
                     "checks": s["checks"]})
        return
    s = res.summary
    how = "cache hit" if res.cache_hit else f"exported in {s['export_seconds']:.1f} s"
    click.echo(f"{res.path}  ({how})")
    click.echo(f"  {s['arch']} form {s['form']}, {s['precision']}, batch {s['batch']}, "
               f"{s['image_size']}px, opset {s['opset']}, {s['exporter']} exporter")
    click.echo(f"  params {s['params'] / 1e6:.3f} M, MACs {s['macs'] / 1e9:.3f} G "
               f"(FLOPs {s['flops'] / 1e9:.3f} G = 2 x MACs), file {s['bytes'] / 1e6:.1f} MB")
    checks = ", ".join(f"batch {c['batch']}: max_abs_err {c['max_abs_err']:.2g}, "
                       f"top1 {c['top1_agreement']:.2f}" for c in s["checks"]["ort_cpu_vs_torch"])
    click.echo(f"  checks: onnx.checker ok; graph MACs = torch MACs; ORT CPU vs torch {checks}")

