"""A worker process per configuration.

Each configuration is loaded and measured in a process of its own (``spawn``: a fresh
interpreter, its own CUDA context), so its peak RSS and device memory belong to it, and a
configuration that crashes the process -- a segfault in a runtime, the kernel's OOM killer --
takes only itself down. The parent (:mod:`.runner`) holds no model: it tells each worker in
turn to ``load``, to time one ``block`` per round, and to ``finish`` (memory, parity).

Protocol over a pipe: the parent sends a command string, the worker answers ``("ok", payload)``
or ``("error", {"error": ..., "traceback_tail": [...]})`` and exits after an error or
``finish``. A worker that dies is noticed while the parent waits (the process is polled), and
:class:`WorkerDied` says how it ended (``killed by SIGKILL``...).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import traceback

from ..core.errors import UsageError

_POLL_S = 0.2


def error_text(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}"[:500]


class WorkerDied(Exception):
    """The worker process ended without answering (signal, exit code)."""


class WorkerError(Exception):
    """The worker answered with an error; ``fields`` are the row's error fields."""

    def __init__(self, fields: dict):
        super().__init__(fields.get("error"))
        self.fields = fields


def _parent_handles_signals() -> None:
    """Ctrl-C reaches the whole process group: the parent stops the workers, so a worker
    ignores SIGINT (no traceback of its own) and takes SIGTERM's default (it just ends)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def _sigint_ignored():
    """SIGINT ignored while a child is spawned (an ignored disposition survives exec, and
    Python keeps it); restored in the parent afterwards."""
    try:
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def worker_main(conn, config, combo, max_batch: int, timed: bool) -> None:
    """The worker's loop (runs in the spawned process)."""
    _parent_handles_signals()
    from .session import ComboSession

    session = None
    try:
        session = ComboSession(config, combo, max_batch)
        while True:
            command = conn.recv()
            if command == "load":
                conn.send(("ok", session.load(timed)))
            elif command == "block":
                conn.send(("ok", session.block()))
            elif command == "finish":
                conn.send(("ok", session.finish()))
                return
            else:  # "stop"
                return
    except EOFError:  # the parent went away
        return
    except UsageError as exc:  # bad user input (an unreadable weights file...): the run stops
        _send_quietly(conn, ("usage", str(exc)))
    except BaseException as exc:  # noqa: BLE001 -- reported to the parent as the row's error
        _send_quietly(conn, ("error", {"error": error_text(exc),
                                       "traceback_tail": traceback.format_exc().splitlines()[-3:]}))
    finally:
        if session is not None:
            try:
                session.close()
            except Exception:
                pass


def _send_quietly(conn, message) -> None:
    try:
        conn.send(message)
    except (OSError, ValueError):
        pass


def prepare_main(conn, jobs, max_batch: int, _timed=None) -> None:
    """A short-lived process that fills the export and reference caches for ``jobs`` (a list of
    (config, combo)) and answers per job the row's complexity fields, or its error fields (with
    an ``error`` key). Complexity is counted here, where torch is loaded anyway, so that a
    measuring worker of an ONNX runtime never imports torch (1.7 s of its start and about 260 MB of its RSS, measured here)."""
    _parent_handles_signals()
    from .session import ComboSession

    try:
        if conn.recv() != "prepare":
            return
        answers = []
        for config, combo in jobs:
            try:
                answers.append(ComboSession(config, combo, max_batch).prepare())
            except UsageError as exc:
                conn.send(("usage", str(exc)))
                return
            except Exception as exc:  # noqa: BLE001 -- that job's row says it
                answers.append({"error": error_text(exc),
                               "traceback_tail": traceback.format_exc().splitlines()[-3:]})
        conn.send(("ok", answers))
    except EOFError:
        return


class Worker:
    """The parent's handle on one worker process."""

    _ctx = multiprocessing.get_context("spawn")

    def __init__(self, config, combo, max_batch: int, timed: bool, target=None):
        """``target``: the function the process runs (default :func:`worker_main`; tests pass
        a wrapper from their own module to inject faults into the worker).
        :func:`prepare_main` takes a list of (config, combo) as ``config`` and no combo."""
        parent, child = self._ctx.Pipe()
        name = "resnext-bench prepare" if combo is None else f"resnext-bench {combo.runtime} b{combo.batch}"
        args = (child, config, max_batch, timed) if combo is None else (child, config, combo, max_batch, timed)
        self.proc = self._ctx.Process(target=target or worker_main, args=args, daemon=True, name=name)
        with _sigint_ignored():  # inherited across exec: a Ctrl-C while the child starts up
            self.proc.start()    # (before worker_main runs) cannot print its traceback
        child.close()
        self.conn = parent

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    def death(self) -> str:
        self.proc.join(5)
        code = self.proc.exitcode
        if code is None:
            return "worker process stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            hint = " (the kernel's OOM killer sends this)" if -code == signal.SIGKILL else ""
            return f"worker process killed by {name} (signal {-code}){hint}"
        return f"worker process exited with code {code} without answering"

    def call(self, command: str):
        """Send ``command`` and wait for the answer's payload."""
        try:
            self.conn.send(command)
        except (BrokenPipeError, OSError):
            raise WorkerDied(self.death()) from None
        while not self.conn.poll(_POLL_S):
            if not self.proc.is_alive() and not self.conn.poll(0):
                raise WorkerDied(self.death())
        try:
            kind, payload = self.conn.recv()
        except (EOFError, OSError):
            raise WorkerDied(self.death()) from None
        if kind == "error":
            raise WorkerError(payload)
        if kind == "usage":
            raise UsageError(payload)
        return payload

    def close(self, *, now: bool = False) -> None:
        """Stop the process: asked to stop (10 s to finish its block), or killed at once with
        ``now`` (an interrupt: a block may run for as long as --warmup-time says)."""
        if self.proc.is_alive():
            if not now:
                try:
                    self.conn.send("stop")
                except (BrokenPipeError, OSError):
                    pass
                self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()
        self.proc.join(5)  # reap it (no zombie left behind)
        self.conn.close()
