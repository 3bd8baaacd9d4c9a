"""The trained reference's weights made *inside* a tune's budget, with progress.

``tune --weights digits`` on a machine that never trained them: the training (3 minutes on a
quiet 2-core machine, 28 on a busy one) used to happen silently inside the race's prepare
step, outside any estimate. Here it runs first, in its own process (the tune's process never
loads a model), printing a progress line with its ETA, and is refused as soon as its first
timed steps say it cannot finish in what is left of the budget. Cached weights are only read
and verified.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from ..core.errors import UsageError


def _train_main(conn, arch: str, seed: int, artifacts: str, deadline: float) -> None:
    from ..bench.worker import parent_handles_signals

    parent_handles_signals()
    try:
        from ..models import build_model

        build_model(arch, seed=seed, weights="digits", cache_dir=artifacts,
                    log=lambda text: conn.send(("log", text)), deadline=deadline)
        conn.send(("done", None))
    except UsageError as exc:
        conn.send(("refused", str(exc)))
    except Exception as exc:  # noqa: BLE001 -- reported to the parent in one line
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))


def ensure_trained(arch: str, seed: int, artifacts: str | Path, deadline: float, emit) -> None:
    """Train (or verify the cached) digits weights of ``arch`` before the search; ``emit(text)``
    hears the progress lines. Exit 2 (:class:`UsageError`) when training cannot finish by
    ``deadline`` (``time.monotonic``) or fails."""
    from ..bench.worker import child_executable, sigint_deferred

    ctx = multiprocessing.get_context("spawn")
    exe = child_executable()
    if exe is not None:
        ctx.set_executable(exe)
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_train_main, args=(child, arch, seed, str(artifacts), deadline),
                       daemon=True, name="resnext-bench train")
    try:
        with sigint_deferred():
            proc.start()
        child.close()
        while True:
            if parent.poll(0.5):
                kind, payload = parent.recv()
                if kind == "log":
                    emit(payload)
                    continue
                if kind == "done":
                    return
                raise UsageError(payload if kind == "refused" else
                                 f"training the digits weights failed: {payload}")
            if not proc.is_alive() and not parent.poll(0):
                raise UsageError(f"training the digits weights: its process ended with code "
                                 f"{proc.exitcode} without answering")
    finally:
        if proc.is_alive():
            proc.kill()
        if proc.pid is not None:
            proc.join(5)
        parent.close()
