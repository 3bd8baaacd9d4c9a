"""Sweeps from a TOML config, resumable and shardable, and merging run dirs.

Config keys (all lists may also be a single value)::

    archs = ["resnet50", "resnext50_32x4d"]     # required
    runtimes = ["torch", "ort-cpu"]             # required; unusable ones become skipped rows
    batches = [1, 8]            precisions = ["fp32"]      forms = ["c"]
    threads = [2]               image_sizes = [224]        device = "auto"
    warmup = 10   iters = 50   min_time = 0.0   warmup_time = 0.0
    parity = true   parity_images = 32   rtol = 1e-3   min_cosine = 0.99999   min_top1 = 0.97
    seed = 0   opset = 18   exporter = "dynamo"   artifacts = "artifacts"

``--resume`` skips combos already recorded ``ok`` in the run dir; every row is appended as one
whole line, so a killed sweep loses at most the combo in flight. ``--shard I/N`` runs the combos
whose key hashes to slice I of N (stable across machines and plan order).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import UsageError
from ..fileio import append_jsonl, ensure_dir, read_jsonl, write_json_atomic
from .harness import TimingConfig
from .plan import Plan, in_shard
from .runner import ENV, RESULTS, BenchSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LIST_KEYS = {"archs", "runtimes", "batches", "precisions", "forms", "threads", "image_sizes"}
SCALAR_KEYS = {"device", "warmup", "iters", "min_time", "warmup_time", "parity", "parity_images",
               "rtol", "min_cosine", "min_top1", "seed", "opset", "exporter", "artifacts",
               "channels_last", "cudnn_algo", "workspace_mb", "builder_opt_level", "cuda_graph",
               "graph_opt_level", "name", "description", "weights"}


def load_config(path: str | Path) -> dict:
    path = Path(path)
    try:
        cfg = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"sweep config {path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"sweep config {path}: invalid TOML ({exc})") from None
    unknown = set(cfg) - LIST_KEYS - SCALAR_KEYS
    if unknown:
        raise UsageError(f"sweep config {path}: unknown keys {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(sorted(LIST_KEYS | SCALAR_KEYS))})")
    for k in ("archs", "runtimes"):
        if not cfg.get(k):
            raise UsageError(f"sweep config {path}: '{k}' is required")
    for k in LIST_KEYS & set(cfg):
        if not isinstance(cfg[k], list):
            cfg[k] = [cfg[k]]
    return cfg


def plan_from_config(cfg: dict) -> tuple[Plan, BenchSettings]:
    try:
        plan = Plan(
            archs=[str(a) for a in cfg["archs"]], runtimes=[str(r) for r in cfg["runtimes"]],
            batches=[int(b) for b in cfg.get("batches", [1])],
            precisions=[str(p) for p in cfg.get("precisions", ["fp32"])],
            forms=[str(f) for f in cfg.get("forms", ["c"])],
            threads=[int(t) for t in cfg["threads"]] if cfg.get("threads") else [None],
            image_sizes=[int(s) for s in cfg["image_sizes"]] if cfg.get("image_sizes") else [None],
            device=str(cfg.get("device", "auto"))).validate()
        timing = TimingConfig(warmup=int(cfg.get("warmup", 10)), iters=int(cfg.get("iters", 50)),
                              min_time_s=float(cfg.get("min_time", 0.0)),
                              warmup_time_s=float(cfg.get("warmup_time", 0.0))).validate()
    except (TypeError, ValueError) as exc:
        raise UsageError(f"sweep config: {exc}") from None
    settings = BenchSettings(
        timing=timing, parity=bool(cfg.get("parity", True)),
        parity_images=int(cfg.get("parity_images", 32)), rtol=cfg.get("rtol"),
        min_cosine=cfg.get("min_cosine"), min_top1=cfg.get("min_top1"), seed=int(cfg.get("seed", 0)),
        weights=cfg.get("weights"), opset=int(cfg.get("opset", 18)),
        exporter=str(cfg.get("exporter", "dynamo")), artifacts_dir=str(cfg.get("artifacts", "artifacts")),
        channels_last=bool(cfg.get("channels_last", False)),
        runtime_extra={"cudnn_conv_algo_search": cfg.get("cudnn_algo", "EXHAUSTIVE"),
                       "workspace_mb": int(cfg.get("workspace_mb", 4096)),
                       "builder_optimization_level": int(cfg.get("builder_opt_level", 3)),
                       "cuda_graph": bool(cfg.get("cuda_graph", False)),
                       "graph_optimization_level": cfg.get("graph_opt_level", "all")})
    return plan, settings


def done_keys(run_dir: str | Path) -> set[str]:
    return {r["config_key"] for r in read_jsonl(Path(run_dir) / RESULTS)
            if r.get("status") == "ok" and "config_key" in r}


def select_combos(plan: Plan, shard=None, skip: set[str] | None = None):
    """(to run, skipped as already done) for this shard."""
    todo, already = [], []
    for c in plan.combos():
        if not in_shard(c, shard):
            continue
        (already if skip and c.key in skip else todo).append(c)
    return todo, already


def merge_runs(run_dirs: list[str | Path], out_dir: str | Path) -> dict:
    """Concatenate run dirs' rows (one row per config key: the last ok one) into ``out_dir``."""
    from ..reports.load import latest, load_env, load_rows

    out = ensure_dir(out_dir, "merge output dir")
    if (out / RESULTS).exists():
        raise UsageError(f"{out / RESULTS} exists: merge into a new dir")
    rows, envs = [], []
    for d in run_dirs:
        rows.extend(load_rows(d))
        env = load_env(d)
        if env:
            envs.append(env | {"source_run_dir": str(d)})
    merged = latest(rows)
    for r in merged:
        append_jsonl(out / RESULTS, r)
    env = dict(envs[0]) if envs else {}
    env["merged_from"] = envs
    write_json_atomic(out / ENV, env)
    return {"rows": len(merged), "from_rows": len(rows), "run_dirs": [str(d) for d in run_dirs]}
