"""One function per measuring command (``bench``, ``parity``, ``sweep``): the CLI parses,
calls one of these, and prints what it returns.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Mapping

from ..config import RunConfig, cli_flag
from ..core.errors import UsageError
from ..core.rundir import RESULTS, done_keys
from ..core.schema import ResultRow
from .plan import combos, parse_shard
from .runner import Runner
from .sweep import load_sweep_config, select_combos

#: setting -> ONNX metadata key (written by the exporter) that fills it under ``--onnx``
ONNX_METADATA_FILLS = {"archs": "arch", "forms": "form", "precisions": "precision",
                       "seed": "seed", "image_sizes": "image_size"}


def fill_from_onnx_metadata(given: dict) -> dict:
    """With ``onnx`` set: the settings the user gave win, the file's resnext-bench metadata fills
    the rest (arch, form, precision, seed, image size), so the torch reference matches the file."""
    from ..exporters.onnx_export import read_metadata

    path = given["onnx"]
    if not Path(path).is_file():
        raise UsageError(f"--onnx {path}: no such file")
    try:
        meta = read_metadata(path)
    except Exception as exc:
        raise UsageError(f"--onnx {path}: not a readable ONNX file ({type(exc).__name__})") from None
    out = dict(given)
    for setting, key in ONNX_METADATA_FILLS.items():
        value = meta.get(f"resnext_bench.{key}")
        if setting not in out and value is not None:
            out[setting] = value
    if "archs" not in out:
        raise UsageError(f"--onnx {path} has no resnext-bench metadata: pass --arch so the "
                         "parity reference can be built")
    archs = out["archs"]
    if (isinstance(archs, str) and "," in archs) or (isinstance(archs, (list, tuple)) and len(archs) > 1):
        raise UsageError("--onnx benches one file: give one --arch")
    return out


def config_from_cli(values: Mapping[str, Any]) -> RunConfig:
    """The run config from CLI option values (``None`` = not given: the default applies)."""
    given = {k: v for k, v in values.items() if v is not None}
    if given.get("onnx"):
        given = fill_from_onnx_metadata(given)
    elif not given.get("archs"):
        raise UsageError(f"{cli_flag('archs')} is required (or --onnx PATH with resnext-bench metadata)")
    return RunConfig.from_values(given)


def run_bench(config: RunConfig, out_dir: str | Path, on_row=None) -> tuple[list[ResultRow], Path]:
    """Measure every combination of ``config``; rows appended to ``out_dir/results.jsonl``."""
    todo = combos(config, strict=True)
    runner = Runner(config, out_dir)
    runner.write_env()
    return runner.run(todo, on_row=on_row), runner.results_path


def run_parity(config: RunConfig) -> list[ResultRow]:
    """Parity only (no timing, nothing kept on disk)."""
    todo = combos(config, strict=True)
    with tempfile.TemporaryDirectory() as tmp:
        return Runner(config, tmp, measure_timing=False).run(todo)


def run_sweep(config_path: str | Path, out_dir: str | Path, *, resume: bool = False,
              shard: str | None = None, on_start=None, on_row=None) -> tuple[list[ResultRow], Path]:
    """Run a TOML sweep into ``out_dir``; ``on_start(todo, already)`` is told the plan first."""
    config = load_sweep_config(config_path)
    shard_t = parse_shard(shard)
    done = done_keys(out_dir)
    if not resume and (Path(out_dir) / RESULTS).exists() and done:
        raise UsageError(f"{out_dir} already holds results: use --resume to continue it, or a new --out")
    todo, already = select_combos(config, shard_t, done if resume else None)
    runner = Runner(config, out_dir)
    runner.write_env()
    if on_start is not None:
        on_start(todo, already)
    return runner.run(todo, on_row=on_row), runner.results_path
