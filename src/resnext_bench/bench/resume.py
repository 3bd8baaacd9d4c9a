"""What a resumed run must share with the rows already in its run dir.

``env.json`` records ``result_settings`` -- every setting that changes a measured number -- and
a resume (or a ``bench`` appending to a run dir) compares them with its own, so that seed-0 and
seed-7 rows, or rows of two weight files, are never mixed under one config key unnoticed.
"""

from __future__ import annotations

from pathlib import Path

from ..config import RunConfig
from ..core.errors import UsageError
from ..core.rundir import ENV, RESULTS, read_env, read_rows


#: settings that say which combinations run, not how a row is measured: a resume may change them
PLAN_ONLY = ("archs", "runtimes", "batches", "precisions", "forms", "threads", "image_sizes",
             "device", "group_size", "artifacts", "onnx")


def result_settings(config: RunConfig) -> dict:
    """What a resumed run must share with the rows already there: every setting that changes
    a measured number (weights and their sha256, seed, parity inputs and tolerances, timing,
    runtime options, quantization)."""
    from ..models.weightsource import weights_identity

    values = {k: v for k, v in config.to_values().items() if k not in PLAN_ONLY}
    values["weights_identity"] = weights_identity(config.export.weights, config.export.seed)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}


def check_resumable(out_dir: str | Path, config: RunConfig, *, allow_changed: bool) -> list[str]:
    """A run dir resumed (or appended to) with other result settings mixes two experiments:
    exit 2 naming the keys, unless ``allow_changed`` (env.json then keeps both, the older under
    ``previous``)."""
    results = Path(out_dir) / RESULTS
    if not results.is_file() or not read_rows(results)[0]:
        return []  # nothing measured yet: nothing to mix with
    env, problem = read_env(out_dir)
    before = env.get("result_settings")
    if not isinstance(before, dict) or not before:
        why = problem or (f"{Path(out_dir) / ENV} is missing" if not (Path(out_dir) / ENV).exists()
                          else f"{Path(out_dir) / ENV} records no result settings")
        if allow_changed:
            return [f"{out_dir}: the settings of the rows already there cannot be verified "
                    f"({why}); appending anyway"]
        raise UsageError(f"{out_dir} holds rows whose settings cannot be verified ({why}): "
                         "resuming could mix two experiments; use a new --out, or "
                         "--allow-changed to continue anyway")
    now = result_settings(config)
    changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    shown = ", ".join(f"{k} {before.get(k)!r} -> {now.get(k)!r}" for k in changed[:4])
    if changed and allow_changed:
        return [f"{out_dir} holds rows measured with other settings ({shown}"
                f"{', ...' if len(changed) > 4 else ''}); env.json keeps both"]
    if changed:
        raise UsageError(f"{out_dir} was measured with other settings ({shown}"
                         f"{', ...' if len(changed) > 4 else ''}): resuming would mix them; "
                         "use a new --out, or --allow-changed to record both")
    return []
