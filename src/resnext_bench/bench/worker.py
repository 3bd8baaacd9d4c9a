"""A worker process per configuration.

Each configuration is loaded and measured in a process of its own (``spawn``: a fresh
interpreter, its own CUDA context), so its peak RSS and device memory belong to it, and a
configuration that crashes the process -- a segfault in a runtime, the kernel's OOM killer --
takes only itself down. The parent (:mod:`.runner`) holds no model: it tells each worker in
turn to ``load``, to time one ``block`` per round, and to ``finish`` (memory, parity).

The messages are :mod:`.protocol`'s (one place says them all). A worker that dies is noticed
while the parent waits (the process is polled), and :class:`WorkerDied` says how it ended
(``killed by SIGKILL``...).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import re
import signal
import traceback

from ..core.errors import UsageError, write_error_text
from .protocol import Command, Failed, Refused

_POLL_S = 0.2


#: first lines that say where a C++ runtime threw, not what went wrong (OpenVINO's
#: ``Exception from src/inference/src/cpp/core.cpp:84:``): the next line is the reason
_WHERE_ONLY = re.compile(r"^(Exception from \S+:\d+:?|\[ ?\w+ ?\] Exception from \S+:\d+:?)$")


def error_text(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    while len(lines) > 1 and _WHERE_ONLY.match(lines[0]):
        lines.pop(0)
    msg = lines[0] if lines else ""
    return f"{type(exc).__name__}: {msg}"[:500]


class WorkerDied(Exception):
    """The worker process ended without answering (signal, exit code)."""


class WorkerError(Exception):
    """The worker answered :class:`~.protocol.Failed`; ``failed`` is that answer."""

    def __init__(self, failed: Failed):
        super().__init__(failed.error)
        self.failed = failed


def parent_handles_signals() -> None:
    """Ctrl-C reaches the whole process group: the parent stops the workers, so a worker
    ignores SIGINT (no traceback of its own) and takes SIGTERM's default (it just ends).
    A worker whose parent dies (``kill -9``, the OOM killer) gets SIGTERM from the kernel
    (Linux ``PR_SET_PDEATHSIG``) instead of going on exporting for nobody."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # the parent spawned this process with SIGINT blocked (:func:`sigint_deferred`); now that
    # it is ignored, unblocking discards a Ctrl-C that came while this process started
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _die_with_parent()


def _die_with_parent() -> None:
    import os
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
        parent = multiprocessing.parent_process()
        if parent is not None and os.getppid() != parent.pid:  # it died before the call
            os._exit(0)
    except (OSError, AttributeError):
        pass


def _refusal(exc: BaseException):
    """A :class:`Refused` for what stops the whole run (bad user input; a full, read-only or
    forbidden disk under the artifacts dir: every other row would fail alike), else None."""
    if isinstance(exc, UsageError):
        return Refused(str(exc))
    if isinstance(exc, OSError):
        text = write_error_text(exc)
        if text is not None and text.startswith("cannot write"):
            return Refused(text)
    return None


@contextlib.contextmanager
def sigint_deferred():
    """SIGINT blocked in this thread while a child is spawned: a Ctrl-C during the spawn is
    kept (pending, or taken by another thread's handler) and raised as soon as the spawn
    returns. Ignoring it instead (as before) lost it -- on a loaded host a spawn is long
    enough to catch one, and ``bench`` then ran on for its whole warm-up. The child itself
    ignores SIGINT from its first instruction (:func:`child_executable`)."""
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    except (AttributeError, OSError):  # no POSIX masks here
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


_CHILD_EXE: list[str] = []


def child_executable() -> str | None:
    """The interpreter the spawned children start with: on POSIX a two-line shell script in a
    private temp folder that ignores SIGINT and execs this Python, so a Ctrl-C that reaches the
    process group while a child starts up (importing numpy, before its handlers are set) cannot
    print the child's traceback -- an ignored disposition survives exec and Python keeps it.
    Measured: a blocked mask alone did not keep SIGINT from such a child. None elsewhere."""
    import atexit
    import os
    import shlex
    import shutil
    import sys
    import tempfile

    if os.name != "posix" or not os.path.exists("/bin/sh"):
        return None
    if not _CHILD_EXE:
        folder = tempfile.mkdtemp(prefix="resnext-bench-")  # 0700: this user's only
        atexit.register(shutil.rmtree, folder, True)
        path = os.path.join(folder, "python")
        with open(path, "w") as f:
            f.write(f"#!/bin/sh\ntrap '' INT\nexec {shlex.quote(sys.executable)} \"$@\"\n")
        os.chmod(path, 0o700)
        _CHILD_EXE.append(path)
    return _CHILD_EXE[0]


def worker_main(conn, job, artifact=None) -> None:
    """The worker's loop (runs in the spawned process): answers each :class:`Command` with the
    message :mod:`.protocol` names for it."""
    parent_handles_signals()
    pin_process(job.config.timing.cpus)  # before any runtime sizes its thread pools
    from .session import ComboSession

    session = None
    try:
        session = ComboSession(job, artifact)
        while True:
            command = conn.recv()
            if command == Command.LOAD:
                conn.send(session.load())
            elif command == Command.BLOCK:
                conn.send(session.block())
            elif command == Command.FINISH:
                conn.send(session.finish())
                return
            else:  # STOP
                return
    except (EOFError, BrokenPipeError, ConnectionResetError):  # the parent went away
        return
    except BaseException as exc:  # noqa: BLE001 -- reported to the parent as the row's error
        # bad user input or a full disk stops the run (Refused); anything else fails the row
        _send_quietly(conn, _refusal(exc) or failure(exc))
    finally:
        if session is not None:
            try:
                session.close()
            except Exception:
                pass


def pin_process(cpus: str | None) -> None:
    """Pin this process to ``cpus`` (``--cpus``: a list such as ``0-3``; None leaves it as
    it is), as ``taskset`` would: the runtimes then see only those CPUs."""
    if cpus:
        import os

        from ..config import parse_cpu_list

        os.sched_setaffinity(0, parse_cpu_list(cpus))


def failure(exc: BaseException) -> Failed:
    return Failed(error_text(exc), traceback.format_exc().splitlines()[-3:])


def _send_quietly(conn, message) -> None:
    try:
        conn.send(message)
    except (OSError, ValueError):
        pass


def prepare_main(conn, jobs) -> None:
    """A short-lived process that makes and verifies the artifacts of ``jobs`` (export cache,
    parity reference cache) and answers a list: per job :class:`Prepared` or :class:`Failed`.
    Complexity is counted by the export (or here, where torch is loaded anyway), so that a
    measuring worker of an ONNX runtime never imports torch (1.7 s of its start and about
    260 MB of its RSS, measured here)."""
    parent_handles_signals()
    from .session import prepare_job

    try:
        if conn.recv() != Command.PREPARE:
            return
        answers = []
        for job in jobs:
            try:
                answers.append(prepare_job(job))
            except Exception as exc:  # noqa: BLE001 -- that job's row says it
                refused = _refusal(exc)
                if refused is not None:  # bad input or a full artifacts disk: the run stops
                    conn.send(refused)
                    return
                answers.append(failure(exc))
        conn.send(answers)
    except (EOFError, BrokenPipeError, ConnectionResetError):  # the parent went away (kill -9)
        return


class Worker:
    """The parent's handle on one worker process."""

    _ctx = multiprocessing.get_context("spawn")

    def __init__(self, job, artifact=None, *, target=None):
        """A measuring worker for ``job`` (a :class:`~.protocol.Job`) that loads ``artifact``
        (the prepare step's verified file; None for a runtime that takes the torch module), or,
        with ``target=prepare_main`` and a list of jobs, the group's prepare process, or, with
        ``target=control_main`` and a thread count, the control workload. ``target``:
        tests pass a wrapper from their own module to inject faults into the worker."""
        parent, child = self._ctx.Pipe()
        if isinstance(job, int):  # the control workload at that thread count (bench/control.py)
            name, args = f"resnext-bench control t{job}", (child, job)
        elif isinstance(job, list):
            name, args = "resnext-bench prepare", (child, job)
        else:
            name = f"resnext-bench {job.combo.runtime} b{job.combo.batch}"
            args = (child, job, artifact)
        exe = child_executable()
        if exe is not None:
            self._ctx.set_executable(exe)
        self.proc = self._ctx.Process(target=target or worker_main, args=args, daemon=True, name=name)
        try:
            with sigint_deferred():
                self.proc.start()
        except BaseException:  # the deferred Ctrl-C (or SIGTERM) arrived: no orphan left
            if self.proc.pid is not None:
                self.proc.kill()
                self.proc.join(5)
            child.close()
            parent.close()
            raise
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

    def call(self, command: Command):
        """Send ``command`` and wait for its answer (a :mod:`.protocol` message); a
        :class:`Failed` answer raises :class:`WorkerError`, a :class:`Refused` one
        :class:`~resnext_bench.core.errors.UsageError`."""
        try:
            self.conn.send(command)
        except (BrokenPipeError, OSError):
            raise WorkerDied(self.death()) from None
        while not self.conn.poll(_POLL_S):
            if not self.proc.is_alive() and not self.conn.poll(0):
                raise WorkerDied(self.death())
        try:
            answer = self.conn.recv()
        except (EOFError, OSError):
            raise WorkerDied(self.death()) from None
        if isinstance(answer, Failed):
            raise WorkerError(answer)
        if isinstance(answer, Refused):
            raise UsageError(answer.message)
        return answer

    def close(self, *, now: bool = False) -> None:
        """Stop the process: asked to stop (10 s to finish its block), or killed at once with
        ``now`` (an interrupt: a block may run for as long as --warmup-time says)."""
        if self.proc.is_alive():
            if not now:
                try:
                    self.conn.send(Command.STOP)
                except (BrokenPipeError, OSError):
                    pass
                self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()
        self.proc.join(5)  # reap it (no zombie left behind)
        self.conn.close()
