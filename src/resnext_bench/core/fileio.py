"""Crash-safe file writing: nothing half-written is ever left at a final path.

Whole files are written to a temporary sibling and renamed into place (``os.replace`` is atomic
on POSIX). Result logs are append-only JSON lines, each written with a single ``write`` of a
complete line and flushed, so a killed run loses at most the line in flight; readers skip a
trailing partial line and say so.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from .errors import UsageError

_UMASK = os.umask(0)
os.umask(_UMASK)


def ensure_dir(path: str | Path, what: str = "output dir") -> Path:
    """Create ``path`` (and parents) or raise a one-line :class:`UsageError`."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {what} {path}: {exc.strerror or exc}") from exc
    if not os.access(path, os.W_OK):
        raise UsageError(f"{what} {path} is not writable")
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; publish like a normal write
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file, streamed (ONNX files and checkpoints can be hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | Path, obj) -> None:
    clean, _ = finite_json(obj)
    write_text_atomic(path, json.dumps(clean, indent=2, sort_keys=True, default=str,
                                       allow_nan=False) + "\n")


def finite_json(obj):
    """``obj`` with every non-finite float (NaN, Infinity) replaced by None, and the paths of
    those replaced: strict JSON parsers (JavaScript's ``JSON.parse``) reject bare NaN."""
    bad: list[str] = []

    def clean(v, where):
        if isinstance(v, float) and not math.isfinite(v):
            bad.append(where)
            return None
        if isinstance(v, dict):
            return {k: clean(x, f"{where}.{k}" if where else str(k)) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x, f"{where}[{i}]") for i, x in enumerate(v)]
        return v

    return clean(obj, ""), bad


def repair_torn_tail(path: str | Path) -> str | None:
    """A file that does not end in a newline (a kill or a full disk mid-append) would merge its
    fragment with the next line: the fragment is moved aside to ``NAME.torn-<time>`` and the
    file cut back to its last whole line. Returns the warning to print, or None."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        return None
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return None
        f.seek(0)
        data = f.read()
        cut = data.rfind(b"\n") + 1
        aside = path.with_name(f"{path.name}.torn-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        aside.write_bytes(data[cut:])
        f.truncate(cut)
        f.flush()
        os.fsync(f.fileno())
    return (f"{path}: its last line was torn ({size - cut} bytes, an interrupted write): "
            f"moved aside to {aside.name} before appending")


def append_jsonl(path: str | Path, row: dict) -> list[str]:
    """Append one complete JSON line with a single write and fsync, after repairing a torn
    tail; strict JSON (non-finite numbers become null). A write that fails (a full disk) is
    cut back off, so no fragment is left; the error propagates. Returns the fields written as
    null for being non-finite."""
    path = Path(path)
    clean, bad = finite_json(row)
    line = (json.dumps(clean, sort_keys=True, default=str, allow_nan=False) + "\n").encode()
    notice = repair_torn_tail(path)
    if notice:
        sys.stderr.write(f"warning: {notice}\n")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        start = os.fstat(fd).st_size
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(errno.ENOSPC, "short write (disk full?)", str(path))
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            if exc.filename is None:
                exc.filename = str(path)
            raise
    finally:
        os.close(fd)
    return bad


def _null_constant(_name: str):
    """NaN / Infinity in lines written by older releases (allow_nan) read as null."""
    return None


def read_jsonl(path: str | Path) -> tuple[list[dict], list[str]]:
    """(complete rows, one note per line that was skipped) of a JSON-lines file.

    A torn last line (a writer killed mid-append) and a line that is not a JSON object are
    skipped, and each is named in the notes so callers can say how many lines they dropped.
    """
    path = Path(path)
    if not path.exists():
        return [], []
    rows, skipped = [], []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                skipped.append(f"line {lineno}: torn last line (interrupted write)")
                break
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                skipped.append(f"line {lineno}: not UTF-8 text")
                continue
            if not line.strip():
                continue
            try:
                row = json.loads(line, parse_constant=_null_constant)
            except ValueError:
                skipped.append(f"line {lineno}: not valid JSON")
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                skipped.append(f"line {lineno}: not a JSON object")
    return rows, skipped
