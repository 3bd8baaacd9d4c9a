"""``sweep --executor ray``: the groups of a sweep as Ray tasks across a cluster.

Each measurement group (the unit of the interleaved rounds: one arch, image size and device) is
one Ray task that owns what it measures:

* a CUDA group asks for a whole GPU (``num_gpus=1``);
* a CPU group asks for one unit of the custom resource :data:`HOST_RESOURCE`, which each node
  declares once (``ray start ... --resources '{"resnext_bench_host": 1}'``), so two CPU
  measurements never share a machine's cores.

The task runs the group exactly as a local sweep does (its own worker processes, its own export
and reference caches on that node: exports are deterministic, so nothing is shipped from the
driver; rows carry the artifact's sha256, so rows from different nodes are provably of the same
model) and returns the rows and its node's environment. The driver is the only writer of
``results.jsonl``: rows are appended as each task finishes, so ``--resume`` works as for a local
sweep. A task that fails -- it raised, or its node was lost -- gives ``failed`` rows for its
group and the sweep goes on. Without ``--ray-address`` a local Ray instance is started (what the
tests use).
"""

from __future__ import annotations

import os

from ..config import RunConfig
from ..core.errors import UsageError
from ..core.fileio import write_json_atomic
from ..core.rundir import ENV, load_env
from ..core.schema import Combo, ResultRow, row_from_json
from .events import silent
from .rows import RunIdentity
from .runner import Runner, group_combos
from .worker import error_text

HOST_RESOURCE = "resnext_bench_host"


def import_ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray: pip install 'resnext-bench[ray]'") from None
    return ray


def measure_group(config: RunConfig, group: list[Combo], identity: RunIdentity
                  ) -> tuple[list[dict], dict]:
    """Runs in a Ray task: measure one group, keeping nothing on the node; (rows as JSON
    objects, this node's environment). The driver's sink keeps the rows."""
    from .env import capture_env

    niceness = _not_niced()
    runner = Runner(config, None)
    runner.identity = identity
    rows = runner.measure_group([runner.job(c) for c in group])
    env = capture_env()
    env["process_niceness"] = niceness
    return [r.to_json() for r in rows], env


def _not_niced() -> dict:
    """Ray starts its workers at niceness 15 (its ``worker_niceness``), and the measuring
    processes this task spawns would inherit it: on a node where anything else runs they get a
    few per cent of a CPU (measured here beside two busy loops: a 2-row group took minutes,
    not seconds) and their timings say so. Back to 0 where this process may; what it ran at
    goes to the node's environment either way."""
    was = os.getpriority(os.PRIO_PROCESS, 0)
    if was > 0:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, 0)
        except OSError:  # lowering niceness needs CAP_SYS_NICE
            pass
    return {"task_started_at": was, "measured_at": os.getpriority(os.PRIO_PROCESS, 0)}


def task_options(group: list[Combo]) -> dict:
    if group[0].device == "cuda":
        return {"num_gpus": 1}
    return {"num_cpus": 1, "resources": {HOST_RESOURCE: 1}}


def run_ray(runner: Runner, combos: list[Combo], *, address: str | None = None, on_event=None,
            group_fn=measure_group) -> list[ResultRow]:
    """Measure ``combos`` as Ray tasks; ``runner`` owns the run dir (the only writer)."""
    ray = import_ray()
    emit = on_event or silent
    started_here = False
    if not ray.is_initialized():
        if address:
            try:
                ray.init(address=address, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UsageError(f"--ray-address {address}: cannot join the Ray cluster "
                                 f"({error_text(exc)})") from None
        else:
            # a local Ray's workers at the same niceness as everything else (_not_niced)
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(num_cpus=os.cpu_count() or 1, resources={HOST_RESOURCE: 1},
                     include_dashboard=False, log_to_driver=False)
        started_here = True
    try:
        remote = ray.remote(max_retries=0)(group_fn)
        groups = group_combos(combos, runner.config.timing.group_size)
        sink = runner.sink(len(combos), emit)
        pending = {}
        for gi, g in enumerate(groups):  # a group starts when its task is submitted
            pending[remote.options(**task_options(g)).remote(runner.config, g, runner.identity)] = g
            sink.group(gi, len(groups), g, runner.config.timing.rounds)
        node_envs: dict[str, dict] = {}
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            group = pending.pop(ref)
            try:
                rows_json, env = ray.get(ref)
                group_rows = [row_from_json(d) for d in rows_json]
                node_envs[env.get("hostname", "?")] = env
            except Exception as exc:  # the task raised, or its node or worker was lost
                cause = getattr(exc, "cause", None)
                if isinstance(cause, UsageError):
                    raise cause from None
                reason = error_text(cause if isinstance(cause, BaseException) else exc)
                group_rows = [runner.row(c).row.update({"status": "failed",
                                                        "error": f"ray task failed: {reason}",
                                                        "node": None, "device_model": None})
                              for c in group]
            for row in group_rows:
                sink.put(row)
        env = load_env(runner.out_dir)
        env["executor"] = {"name": "ray", "address": address or "local",
                           "nodes": node_envs, "cluster_resources": dict(ray.cluster_resources())}
        write_json_atomic(runner.out_dir / ENV, env)
        return sink.rows
    finally:
        if started_here:
            ray.shutdown()
