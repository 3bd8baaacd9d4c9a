"""One function per measuring command (``bench``, ``parity``, ``sweep``): the CLI parses,
calls one of these, and prints what it returns.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Mapping

from ..config import RunConfig, TimingConfig, cli_flag
from ..core.errors import UsageError
from ..core.rundir import RESULTS, append_row, done_keys
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
    from ..exporters.onnx_export import load_user_onnx, metadata_of

    path = given["onnx"]
    meta = metadata_of(load_user_onnx(path))
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


def run_bench(config: RunConfig, out_dir: str | Path, on_event=None) -> tuple[list[ResultRow], Path]:
    """Measure every combination of ``config``; rows appended to ``out_dir/results.jsonl``."""
    todo = combos(config, strict=True)
    runner = Runner(config, out_dir)
    runner.write_env()
    return runner.run(todo, on_event=on_event), runner.results_path


def run_parity(config: RunConfig) -> list[ResultRow]:
    """Parity only (no timing, nothing kept on disk)."""
    todo = combos(config, strict=True)
    with tempfile.TemporaryDirectory() as tmp:
        return Runner(config, tmp, measure_timing=False).run(todo)


def run_sweep(config_path: str | Path, out_dir: str | Path, *, resume: bool = False,
              shard: str | None = None, executor: str = "local", ray_address: str | None = None,
              on_start=None, on_event=None, group_fn=None) -> tuple[list[ResultRow], Path]:
    """Run a TOML sweep into ``out_dir``; ``on_start(todo, already)`` is told the plan first.

    ``executor="ray"``: the groups run as Ray tasks (:mod:`.ray_executor`); ``group_fn``
    replaces the task function (tests inject a failing task)."""
    if executor not in ("local", "ray"):
        raise UsageError(f"--executor {executor!r}: must be local or ray")
    if executor == "ray":
        from .ray_executor import import_ray

        import_ray()  # says how to install it before any work
    config = load_sweep_config(config_path)
    shard_t = parse_shard(shard)
    done = done_keys(out_dir)
    if not resume and (Path(out_dir) / RESULTS).exists() and done:
        raise UsageError(f"{out_dir} already holds results: use --resume to continue it, or a new --out")
    todo, already = select_combos(config, shard_t, done if resume else None)
    if executor == "ray" and not ray_address:  # local Ray workers: same files as this process
        config = config.replace(artifacts=str(Path(config.export.artifacts).resolve()))
    runner = Runner(config, out_dir)
    runner.write_env()
    if on_start is not None:
        on_start(todo, already)
    if executor == "ray":
        from .ray_executor import measure_group, run_ray

        rows = run_ray(runner, todo, address=ray_address, on_event=on_event,
                       group_fn=group_fn or measure_group)
        return rows, runner.results_path
    return runner.run(todo, on_event=on_event), runner.results_path


def _side_values(common: dict, path: str, overrides: tuple[str, ...], side: str) -> dict:
    values = dict(common, onnx=path)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--{side}-set {item!r}: expected KEY=VALUE (a setting name, see "
                             "`resnext-bench sweep --help-config`)")
        values[key.strip().replace("-", "_")] = value.strip()
    return fill_from_onnx_metadata(values)


def run_ab(base: str, new: str, common: Mapping[str, Any], *, base_set: tuple[str, ...] = (),
           new_set: tuple[str, ...] = (), out_dir: str | Path, on_event=None
           ) -> tuple[ResultRow, ResultRow, Path]:
    """Measure two ONNX files -- or one file under two settings (``base_set`` / ``new_set``:
    ``KEY=VALUE``) -- interleaved round by round in one job, each in its own worker.

    ``common``: settings for both sides (runtime, batch, timing...). Each side must come to
    exactly one configuration. Both rows are appended to ``out_dir/results.jsonl`` with
    ``ab_side`` = ``base`` / ``new``."""
    given = {k: v for k, v in common.items() if v is not None}
    given.setdefault("runtimes", "ort-cpu")  # the files are what differs: an ONNX runtime
    # a fresh worker per side each round: a bias that sticks to one process (0.90x-1.44x for a
    # file against itself, measured here) becomes round-to-round spread the verdict sees
    given.setdefault("processes", given.get("rounds", TimingConfig().rounds))
    configs, jobs = [], []
    for side, path, sets in (("base", base, base_set), ("new", new, new_set)):
        config = RunConfig.from_values(_side_values(given, path, sets, side))
        todo = combos(config, strict=True)
        if len(todo) != 1:
            raise UsageError(f"ab measures one configuration per side; {side} has {len(todo)} "
                             "(give one --runtime, --batch and --precision)")
        configs.append(config)
        jobs.append((config, todo[0]))
    if configs[0].timing.rounds != configs[1].timing.rounds:
        raise UsageError("ab: both sides need the same --rounds")
    runner = Runner(configs[0], out_dir)
    runner.write_env()
    max_batch = max(c.batch for _, c in jobs)
    rows = runner.run_jobs(jobs, max_batch, on_event or (lambda kind, **e: None))
    for side, row in zip(("base", "new"), rows):
        row.extra["ab_side"] = side
        append_row(runner.out_dir, row)
    return rows[0], rows[1], runner.results_path
