"""Files: ``export`` (a checked ONNX file) and ``quantize`` (its int8 copy)."""

from __future__ import annotations

import click

from ..config import EXPORT_PRECISIONS, ExportOptions, PlanConfig, cli_flag
from ..core.errors import UsageError
from .app import _print_json, main
from .options import setting_options


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

    from ..config import QuantOptions, build_section, check_setting
    from ..exporters.onnx_export import ExportConfig, export_onnx

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
        from ..exporters.control_set import describe_best

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
    from ..config import build_section
    from ..exporters.int8 import make_int8

    res = make_int8(onnx_path, build_section("quant", settings), out_dir, force=force)
    if as_json:
        _print_json(res.to_json())
    else:
        _echo_quantized(res)
