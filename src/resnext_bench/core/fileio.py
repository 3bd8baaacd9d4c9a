"""Crash-safe file writing: nothing half-written is ever left at a final path.

Whole files are written to a temporary sibling and renamed into place (``os.replace`` is atomic
on POSIX). Result logs are append-only JSON lines, each written with a single ``write`` of a
complete line and flushed, so a killed run loses at most the line in flight; readers skip a
trailing partial line and say so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
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
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def append_jsonl(path: str | Path, row: dict) -> None:
    """Append one complete JSON line with a single write and fsync."""
    line = json.dumps(row, sort_keys=True, default=str, allow_nan=True) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: str | Path) -> tuple[list[dict], list[str]]:
    """(complete rows, one note per line that was skipped) of a JSON-lines file.

    A torn last line (a writer killed mid-append) and a line that is not a JSON object are
    skipped, and each is named in the notes so callers can say how many lines they dropped.
    """
    path = Path(path)
    if not path.exists():
        return [], []
    rows, skipped = [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.endswith("\n"):
                skipped.append(f"line {lineno}: torn last line (interrupted write)")
                break
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                skipped.append(f"line {lineno}: not valid JSON")
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                skipped.append(f"line {lineno}: not a JSON object")
    return rows, skipped
