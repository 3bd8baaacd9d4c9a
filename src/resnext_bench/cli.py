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



# ------------------------------------------------------------------------- bench / parity shared
def _runtime_names(value: str) -> list[str]:
    """--runtime: names, or 'all' for every runtime usable here."""
    from .runtimes.registry import RUNTIME_NAMES, check_available

    names = _str_list(value)
    if names == ["all"]:
        return [n for n in RUNTIME_NAMES if check_available(n)[0]]
    for n in names:
        if n not in RUNTIME_NAMES:
            raise UsageError(f"unknown runtime {n!r}; choose from {', '.join(RUNTIME_NAMES)} or 'all'")
        ok, reason = check_available(n)
        if not ok:
            raise UsageError(f"runtime {n} is not usable here: {reason}")
    return names


def _common_run_options(f):
    """Options shared by `bench` and `parity`."""
    opts = [
        click.option("--arch", default=None, help="Arch name(s), comma-separated."),
        click.option("--runtime", "runtimes", default="all", show_default=True,
                     help="Runtime(s), comma-separated, or 'all' usable here."),
        click.option("--batch", "batches", default="1", show_default=True, help="Batch size(s), e.g. 1,8."),
        click.option("--precision", "precisions", default="fp32", show_default=True,
                     help="fp32, fp16, bf16 (comma-separated)."),
        click.option("--form", "forms", default="c", show_default=True, help="Block form(s) a,b,c."),
        click.option("--threads", default=None, help="CPU threads (comma-separated for a sweep)."),
        click.option("--image-size", type=int, default=None, help="Input size (default: arch's own)."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                     show_default=True, help="Device for the torch runtime."),
        click.option("--onnx", "onnx_path", type=click.Path(dir_okay=False), default=None,
                     help="Bench this ONNX file instead of exporting (arch from its metadata or --arch)."),
        click.option("--parity-images", type=int, default=32, show_default=True),
        click.option("--images", "images_dir", type=click.Path(file_okay=False), default=None,
                     help="Folder of real images for parity (ImageNet preprocessing)."),
        click.option("--rtol", type=float, default=None, help="Parity: max |err| / max |ref|."),
        click.option("--min-cosine", type=float, default=None, help="Parity: minimum cosine."),
        click.option("--min-top1", type=float, default=None, help="Parity: minimum top-1 agreement."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of default weights."),
        click.option("--weights", type=click.Path(dir_okay=False), default=None, help="Checkpoint file."),
        click.option("--opset", type=int, default=18, show_default=True),
        click.option("--exporter", type=click.Choice(["dynamo", "torchscript"]), default="dynamo",
                     show_default=True),
        click.option("--artifacts", default="artifacts", show_default=True,
                     help="Export / engine / weights cache dir."),
        click.option("--channels-last", is_flag=True, help="torch: channels_last memory format."),
        click.option("--cudnn-algo", type=click.Choice(["EXHAUSTIVE", "HEURISTIC", "DEFAULT"]),
                     default="EXHAUSTIVE", show_default=True, help="ort-cuda cuDNN conv algo search."),
        click.option("--workspace-mb", type=int, default=4096, show_default=True, help="TensorRT workspace."),
        click.option("--builder-opt-level", type=click.IntRange(0, 5), default=3, show_default=True,
                     help="TensorRT builder optimization level."),
        click.option("--cuda-graph", is_flag=True, help="tensorrt / torch cuda: replay a CUDA graph."),
        click.option("--graph-opt-level", type=click.Choice(["disable", "basic", "extended", "all"]),
                     default="all", show_default=True, help="ONNX Runtime graph optimization level."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _onnx_overrides(arch, onnx_path, precisions, seed, image_size) -> dict:
    """With --onnx, arch / precision / seed / image size come from the file's resnext-bench
    metadata unless given explicitly, so the torch reference matches the file."""
    if not onnx_path:
        if not arch:
            raise UsageError("--arch is required (or --onnx PATH with resnext-bench metadata)")
        return dict(arch=arch, precisions=precisions, seed=seed, image_size=image_size)
    from pathlib import Path

    if not Path(onnx_path).is_file():
        raise UsageError(f"--onnx {onnx_path}: no such file")
    from .exporters.onnx_export import read_metadata

    try:
        meta = read_metadata(onnx_path)
    except Exception as exc:
        raise UsageError(f"--onnx {onnx_path}: not a readable ONNX file ({type(exc).__name__})") from exc
    if arch is None and "resnext_bench.arch" not in meta:
        raise UsageError(f"--onnx {onnx_path} has no resnext-bench metadata: pass --arch so the "
                         "parity reference can be built")
    if "," in (arch or ""):
        raise UsageError("--onnx benches one file: give one --arch")
    return dict(
        arch=arch or meta["resnext_bench.arch"],
        precisions=meta.get("resnext_bench.precision", precisions) if precisions == "fp32" else precisions,
        seed=int(meta.get("resnext_bench.seed", seed)) if seed == 0 else seed,
        image_size=image_size or (int(meta["resnext_bench.image_size"])
                                  if "resnext_bench.image_size" in meta else None))


def _build_run(arch, runtimes, batches, precisions, forms, threads, image_size, device, onnx_path,
               parity_images, images_dir, rtol, min_cosine, min_top1, seed, weights, opset,
               exporter, artifacts, channels_last, cudnn_algo, workspace_mb, builder_opt_level,
               cuda_graph, graph_opt_level, timing):
    from .bench.plan import Plan
    from .bench.runner import BenchSettings

    o = _onnx_overrides(arch, onnx_path, precisions, seed, image_size)
    arch, precisions, seed, image_size = o["arch"], o["precisions"], o["seed"], o["image_size"]
    if parity_images < 1:
        raise UsageError("--parity-images must be >= 1")
    plan = Plan(
        archs=_str_list(arch), runtimes=_runtime_names(runtimes),
        batches=_int_list(batches, "--batch"), precisions=_str_list(precisions),
        forms=_str_list(forms), threads=_int_list(threads, "--threads") if threads else [None],
        image_sizes=[image_size], device=device).validate()
    if not plan.runtimes:
        raise UsageError("no runtime is usable here (see `resnext-bench list`)")
    if plan.device == "cuda" and "torch" in plan.runtimes:
        from .runtimes._common import cuda_status

        ok, reason = cuda_status()
        if not ok:
            raise UsageError(f"--device cuda: {reason}")
    for a in plan.archs:
        from .models.spec import parse_arch

        parse_arch(a).resolve_image_size(image_size)
    if weights is not None:
        from pathlib import Path

        if not Path(weights).is_file():
            raise UsageError(f"--weights {weights}: no such file")
    settings = BenchSettings(
        timing=timing, parity_images=parity_images, images_dir=images_dir, rtol=rtol,
        min_cosine=min_cosine, min_top1=min_top1, seed=seed, weights=weights, opset=opset,
        exporter=exporter, onnx_path=onnx_path, artifacts_dir=artifacts,
        channels_last=channels_last,
        runtime_extra={"cudnn_conv_algo_search": cudnn_algo, "workspace_mb": workspace_mb,
                       "builder_optimization_level": builder_opt_level, "cuda_graph": cuda_graph,
                       "graph_optimization_level": graph_opt_level})
    return plan, settings


def _progress_printer(quiet: bool):
    import time as _time

    started = _time.perf_counter()

    def on_row(event, i, n, combo, row):
        if quiet:
            return
        if event == "start":
            done = i
            eta = ""
            if done:
                per = (_time.perf_counter() - started) / done
                eta = f", ETA {per * (n - done):.0f}s"
            click.echo(f"[{i + 1}/{n}{eta}] {combo.arch} form {combo.form} {combo.runtime} "
                       f"{combo.device} {combo.precision} batch {combo.batch}"
                       + (f" threads {combo.threads}" if combo.threads else "") + " ...", err=True)
        elif row["status"] != "ok":
            click.echo(f"    {row['status']}: {row['error']}", err=True)
        else:
            p = row.get("parity_passed")
            click.echo(f"    p50 {row.get('latency_p50_ms', float('nan')):.2f} ms, "
                       f"{row.get('throughput_ips') or 0:.1f} img/s, parity "
                       f"{'pass' if p else ('FAIL' if p is False else '-')}", err=True)

    return on_row


def _default_run_dir() -> str:
    import datetime as _dt

    return "runs/" + _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


# --------------------------------------------------------------------------------------- bench
@main.command()
@_common_run_options
@click.option("--warmup", type=int, default=10, show_default=True, help="Warm-up calls.")
@click.option("--warmup-time", type=float, default=0.0, show_default=True, help="Min warm-up seconds.")
@click.option("--iters", type=int, default=50, show_default=True, help="Timed calls (at least).")
@click.option("--min-time", type=float, default=0.0, show_default=True, help="Min timed seconds.")
@click.option("--no-parity", is_flag=True, help="Skip the parity check.")
@click.option("--out", "out_dir", default=None, help="Run dir (default runs/<timestamp>).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON (samples omitted).")
def bench(warmup, warmup_time, iters, min_time, no_parity, out_dir, quiet, as_json, **kw):
    """Measure archs x runtimes x batches x precisions; append rows to RUN_DIR/results.jsonl.

    Exit 1 if any combination failed or missed its parity tolerance.
    """
    from .bench.harness import TimingConfig
    from .bench.runner import Runner
    from .reports.console import rows_table

    timing = TimingConfig(warmup=warmup, iters=iters, min_time_s=min_time,
                          warmup_time_s=warmup_time).validate()
    plan, settings = _build_run(timing=timing, **kw)
    settings.parity = not no_parity
    runner = Runner(plan, settings, out_dir or _default_run_dir())
    runner.write_env()
    rows = runner.run(plan.combos(), on_row=_progress_printer(quiet or as_json))
    if as_json:
        _print_json([{k: v for k, v in r.items() if not k.endswith("samples_ms")} for r in rows])
    else:
        click.echo(rows_table(rows))
        click.echo(f"results: {runner.results_path}")
    bad = [r for r in rows if r["status"] == "failed" or r.get("parity_passed") is False]
    if bad:
        click.echo(f"{len(bad)} combination(s) failed or missed parity", err=True)
        sys.exit(1)


# -------------------------------------------------------------------------------------- parity
@main.command()
@_common_run_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def parity(as_json, **kw):
    """Check runtimes' logits against PyTorch fp32 eager (no timing). Exit 1 on a failure."""
    import tempfile

    from .bench.runner import Runner
    from .reports.console import rows_table

    plan, settings = _build_run(timing=None, **kw)
    with tempfile.TemporaryDirectory() as tmp:
        rows = Runner(plan, settings, tmp).run(plan.combos())
    cols = [("arch", "arch", "s"), ("runtime", "runtime", "s"), ("precision", "prec", "s"),
            ("batch", "batch", "d"), ("parity_max_abs_err", "max abs", ".2e"),
            ("parity_max_rel_err", "max rel", ".2e"), ("parity_cosine", "cosine", ".6f"),
            ("parity_top1_agreement", "top1", ".3f"), ("parity_top5_agreement", "top5", ".3f"),
            ("parity_passed", "result", "s"), ("status", "status", "s")]
    if as_json:
        _print_json(rows)
    else:
        click.echo(rows_table(rows, cols))
    if any(r["status"] == "failed" or r.get("parity_passed") is False for r in rows):
        sys.exit(1)


# -------------------------------------------------------------------------------------- doctor
@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def doctor(as_json):
    """Explain this machine: torch build, CUDA, ONNX Runtime package and providers, TensorRT.

    Exit 1 when a problem is found (e.g. onnxruntime and onnxruntime-gpu both installed).
    """
    from .doctor import diagnose

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
    if report["problems"]:
        sys.exit(1)


# --------------------------------------------------------------------------------------- sweep
@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, help="Run dir (results appended).")
@click.option("--resume", is_flag=True, help="Skip combinations already recorded ok in RUN_DIR.")
@click.option("--shard", default=None, help="Run slice I of N (e.g. 2/4) of the combinations.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
def sweep(config, out_dir, resume, shard, quiet):
    """Run every combination of a TOML config; unusable runtimes become skipped rows."""
    from pathlib import Path

    from .bench.plan import parse_shard
    from .bench.runner import RESULTS, Runner
    from .bench.sweep import done_keys, load_config, plan_from_config, select_combos

    cfg = load_config(config)
    plan, settings = plan_from_config(cfg)
    shard_t = parse_shard(shard)
    if not resume and (Path(out_dir) / RESULTS).exists() and done_keys(out_dir):
        raise UsageError(f"{out_dir} already holds results: use --resume to continue it, or a new --out")
    todo, already = select_combos(plan, shard_t, done_keys(out_dir) if resume else None)
    runner = Runner(plan, settings, out_dir)
    runner.write_env()
    if not quiet:
        click.echo(f"sweep {config}: {len(todo)} to run"
                   + (f", {len(already)} already done" if already else "")
                   + (f" (shard {shard})" if shard_t else ""), err=True)
    rows = runner.run(todo, on_row=_progress_printer(quiet))
    n = {s: sum(r["status"] == s for r in rows) for s in ("ok", "skipped", "failed")}
    click.echo(f"{n['ok']} ok, {n['skipped']} skipped, {n['failed']} failed -> {runner.results_path}")
    if n["failed"] or any(r.get("parity_passed") is False for r in rows):
        sys.exit(1)


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", "out_dir", required=True, help="New run dir for the merged rows.")
def merge(run_dirs, out_dir):
    """Merge run dirs (e.g. the shards of a sweep) into one."""
    from .bench.sweep import merge_runs

    info = merge_runs(list(run_dirs), out_dir)
    click.echo(f"merged {info['from_rows']} rows from {len(run_dirs)} run dir(s) into "
               f"{info['rows']} rows in {out_dir}")


# -------------------------------------------------------------------------------------- report
@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["md", "html", "csv", "parquet"]), default="md",
              show_default=True)
@click.option("--out", "out_path", default=None, help="Write here (default: stdout; parquet needs it).")
def report(run_dir, fmt, out_path):
    """Render a run dir as markdown, self-contained HTML, CSV or parquet."""
    from .reports.render import write_report

    text = write_report(run_dir, fmt, out_path)
    if text is not None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {out_path}", err=True)


# ------------------------------------------------------------------------------------- compare
@main.command()
@click.argument("base_run", type=click.Path(file_okay=False))
@click.argument("new_run", type=click.Path(file_okay=False))
@click.option("--threshold", type=click.FloatRange(0, 10), default=0.05, show_default=True,
              help="Relative slowdown that counts as a regression.")
@click.option("--format", "fmt", type=click.Choice(["text", "md", "json"]), default="text",
              show_default=True)
def compare(base_run, new_run, threshold, fmt):
    """Compare two runs config by config; exit 1 on a significant regression or broken parity."""
    from .reports.compare import compare_runs, render

    comps = compare_runs(base_run, new_run, threshold)
    click.echo(render(comps, fmt, threshold))
    if any(c.is_regression for c in comps):
        sys.exit(1)


# ----------------------------------------------------------------------------------- recommend
@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--max-latency-ms", type=float, default=None, help="Latency budget (see --latency-metric).")
@click.option("--latency-metric", type=click.Choice(["p50", "p90", "p95", "p99"]), default="p99",
              show_default=True)
@click.option("--min-throughput", type=float, default=None, help="Images/s floor.")
@click.option("--batch", type=int, default=None)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None)
@click.option("--objective", type=click.Choice(["latency", "throughput"]), default="latency",
              show_default=True)
@click.option("--json", "as_json", is_flag=True)
def recommend(run_dir, max_latency_ms, latency_metric, min_throughput, batch, device, objective, as_json):
    """The best parity-passing config under constraints, as a deployment config. Exit 1 if none."""
    from .reports.recommend import recommend_run, render_text

    res = recommend_run(run_dir, max_latency_ms=max_latency_ms, min_throughput=min_throughput,
                        batch=batch, device=device, objective=objective, latency_metric=latency_metric)
    click.echo(json.dumps(res, indent=2, default=str) if as_json else render_text(res))
    if res["winner"] is None:
        sys.exit(1)
