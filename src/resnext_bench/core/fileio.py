"""Crash-safe file writing: nothing half-written is ever left at a final path.

Whole files are written to a temporary sibling and renamed into place (``os.replace`` is atomic
on POSIX). Result logs are append-only JSON lines, each written with a single ``write`` of a
complete line and flushed, so a killed run loses at most the line in flight; readers skip a
trailing partial line and say so.

A temporary sibling is named ``.NAME.<host>-<pid>-<random>.tmp``: a writer killed by a signal
or the OOM killer leaves it behind, and :func:`remove_dead_temps` (run where the tool writes
its caches and run dirs) removes those whose writer, on this host, is gone.

What a *user* names as an output (``report --out``) is written by :func:`write_output`, which
never replaces anything but a regular file: a symlink is written through to its target, a FIFO
or a character device (``/dev/stdout``, ``/dev/full``) is written directly.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import shutil
import socket
import stat
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


_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"
#: ``.NAME.<host>-<pid>-<random>.tmp`` (files) and ``.NAME.<host>-<pid>-<random>.tmpdir`` (dirs)
_TEMP_RE = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp(dir)?$")
#: mkstemp names of releases before the PID was in the name: removed once this old
_LEGACY_TEMP_RE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
LEGACY_TEMP_AGE_S = 6 * 3600


def temp_prefix(name: str) -> str:
    """The prefix of a temporary sibling of ``name``: host and PID let a later run find the
    temp files of a writer that died (:func:`remove_dead_temps`)."""
    return f".{name}.{_HOST}-{os.getpid()}-"


#: sub-folders of the artifacts cache that hold files written through :func:`atomic_path`
CACHE_SUBDIRS = ("weights", "refs")


def ensure_cache_dir(path: str | Path, what: str = "artifacts dir") -> Path:
    """:func:`ensure_dir` for a cache folder, and the temp files that dead writers left in it
    (an export killed by a signal or the OOM killer leaves a full-size ``.NAME.onnx.*.tmp``)
    removed, with one warning line."""
    path = ensure_dir(path, what)
    for folder in (path, *(path / d for d in CACHE_SUBDIRS)):
        for line in remove_dead_temps(folder):
            sys.stderr.write(f"warning: {line}\n")
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``."""
    path = Path(path)
    ensure_parent(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; publish like a normal write
        os.replace(tmp, path)
    except OSError as exc:
        if exc.filename is None or str(exc.filename) == tmp:  # name the file being written
            exc.filename = str(path)
        raise
    finally:
        Path(tmp).unlink(missing_ok=True)


def ensure_parent(path: Path) -> None:
    """Create ``path``'s folder; a parent that is a file is a one-line :class:`UsageError`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(f"cannot write {path}: {_first_file(path.parent)} is a file, not a "
                         "folder") from None


def _first_file(folder: Path) -> Path:
    for p in [*reversed(folder.parents), folder]:
        if p.exists() and not p.is_dir():
            return p
    return folder


def temp_dir_beside(path: Path) -> Path:
    """A new empty folder beside ``path`` to assemble a multi-file output in, moved into place
    whole by :func:`replace_dir`."""
    ensure_parent(path)
    return Path(tempfile.mkdtemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=".tmpdir"))


def replace_dir(assembled: Path, dest: Path) -> None:
    """Put the folder ``assembled`` at ``dest``: renamed in when ``dest`` does not exist; else the
    two are exchanged in one atomic step where the kernel offers it (Linux), or the old folder
    is renamed aside first and removed after -- so an interrupt leaves the old folder or the
    new one at ``dest`` (the other under a temp name that :func:`remove_dead_temps` removes),
    never a mix."""
    os.chmod(assembled, 0o777 & ~_UMASK)  # mkdtemp makes 0700; publish like a normal mkdir
    if not dest.exists():
        os.replace(assembled, dest)
        return
    if dest.is_symlink() or not dest.is_dir():
        raise UsageError(f"{dest} exists and is not a folder: give another path")
    if _exchange(assembled, dest):  # one atomic step (Linux renameat2): the old is now at assembled
        shutil.rmtree(assembled, ignore_errors=True)
        return
    aside = Path(tempfile.mkdtemp(dir=dest.parent, prefix=temp_prefix(dest.name), suffix=".tmpdir"))
    os.rmdir(aside)
    os.replace(dest, aside)
    try:
        os.replace(assembled, dest)
    except BaseException:
        os.replace(aside, dest)  # put the old one back
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where the call
    or the file system does not offer it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        at_fdcwd, rename_exchange = -100, 2
        return libc.renameat2(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)),
                              rename_exchange) == 0
    except (AttributeError, OSError):
        return False


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (one we may not signal counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_temps(folder: str | Path) -> list[str]:
    """Remove the temporary files and folders in ``folder`` whose writer is dead (this host,
    PID not running) and those of older releases (no PID in the name) untouched for
    :data:`LEGACY_TEMP_AGE_S`; returns one line naming what was removed, or nothing. A temp
    file of another host (a shared artifacts dir) is left alone: its writer cannot be seen."""
    folder = Path(folder)
    removed, size = [], 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    now = time.time()
    for e in entries:
        m = _TEMP_RE.match(e.name)
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if m:
            dead = m["host"] == _HOST and int(m["pid"]) != os.getpid() and not pid_alive(int(m["pid"]))
        else:
            dead = bool(_LEGACY_TEMP_RE.match(e.name)) and now - st.st_mtime > LEGACY_TEMP_AGE_S
        if not dead:
            continue
        try:
            if e.is_dir(follow_symlinks=False):
                size += sum(f.stat().st_size for f in Path(e.path).rglob("*") if f.is_file())
                shutil.rmtree(e.path)
            else:
                size += st.st_size
                os.unlink(e.path)
        except OSError:
            continue
        removed.append(e.name)
    if not removed:
        return []
    return [f"{folder}: removed {len(removed)} temporary file(s) left by writers that died "
            f"({size / 1e6:.1f} MB; first: {removed[0]})"]


def read_regular_text(path: str | Path) -> str:
    """A file's text, read only when it is a regular file: a FIFO (or a device) named where a
    record is expected would block the reader for ever -- it is refused with an OSError, which
    every reader of records already treats as unreadable."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read()
    finally:
        os.close(fd)
    return data.decode("utf-8")


#: a run dir's own records: never the target of a user-named output
RUN_RECORDS = ("results.jsonl", "env.json", "tune.json", "baseline.json", "measured-times.jsonl")


def _refuse_record(path: Path, flag: str) -> Path:
    """``path`` resolved (through links), refused when it is one of a run's (or a baseline's,
    or an artifacts dir's) records."""
    resolved = Path(os.path.realpath(path))
    if resolved.name in RUN_RECORDS and (resolved.exists() or any(
            (resolved.parent / name).exists() for name in RUN_RECORDS)):
        raise UsageError(f"{flag} {path}: that is {resolved.parent}'s own record "
                         f"({resolved.name}): not overwritten; write the output elsewhere")
    return resolved


def write_output(path: str | Path, write, flag: str = "--out") -> None:
    """Write a user-named output with ``write(tmp_path)`` without ever replacing anything but a
    regular file: a new path or a regular file is replaced atomically; a symlink is written
    through to its target (the link stays); a FIFO or a character device (``/dev/stdout``, a
    named pipe a CI step reads) is opened and written directly; a folder, a socket or a block
    device is refused in one line, and so is a run's own record (``RUN/results.jsonl``,
    ``env.json``, ``tune.json``..., directly or through a link): a report written over the rows
    it reports would leave no run. ``flag``: the option the user gave the path with."""
    path = Path(path)
    _refuse_record(path, flag)
    try:
        st = os.stat(path)  # follows symlinks: what a write would reach
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise UsageError(f"cannot write {path}: {_first_file(path.parent)} is a file, not a "
                         "folder") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{flag} {path} is a directory: give a file path")
    if st is not None and (stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode)):
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp")
        os.close(fd)
        try:
            write(Path(tmp))
            with open(tmp, "rb") as src, open(path, "wb") as dst:
                try:
                    shutil.copyfileobj(src, dst)
                    dst.flush()
                except OSError as exc:
                    if exc.filename is None:
                        exc.filename = str(path)
                    raise
        finally:
            Path(tmp).unlink(missing_ok=True)
        return
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{flag} {path} is not a regular file, a FIFO or a character device: "
                         "not written")
    target = Path(os.path.realpath(path)) if path.is_symlink() else path  # also a dangling link
    try:
        with atomic_path(target) as tmp:
            write(tmp)
    except OSError as exc:  # name the user's path, not the temp file beside it
        if exc.filename is None or str(exc.filename).endswith(".tmp"):
            exc.filename = str(path)
        raise


def check_output(path: str | Path, flag: str = "--out") -> None:
    """Refuse (exit 2) up front an output path that a command could only write after its
    measurement: a folder, a run's record, a missing or unwritable folder."""
    path = Path(path)
    resolved = _refuse_record(path, flag)
    if resolved.is_dir():
        raise UsageError(f"{flag} {path} is a directory: give a file path")
    parent = resolved.parent
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: its folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) and not (resolved.exists() and os.access(resolved, os.W_OK)):
        raise UsageError(f"{flag} {path}: {parent} is not writable (checked before measuring)")


def write_output_text(path: str | Path, text: str, flag: str = "--out") -> None:
    write_output(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), flag)


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
    if not path.is_file():
        raise UsageError(f"{path} is not a regular file (a folder?): not a results file")
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
                row = loads_bounded(line, parse_constant=_null_constant)
            except ValueError as exc:
                skipped.append(f"line {lineno}: {exc if isinstance(exc, TooDeep) else 'not valid JSON'}")
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                skipped.append(f"line {lineno}: not a JSON object")
    return rows, skipped


#: the deepest JSON nesting a reader accepts (rows and env.json are a few levels deep); deeper
#: text is refused before the parser recurses (200,000 ``[`` raise RecursionError in ``json``)
MAX_JSON_DEPTH = 64


class TooDeep(ValueError):
    def __str__(self):
        return f"nested deeper than {MAX_JSON_DEPTH} levels"


def _depth(text: str) -> int:
    """Upper bound of the nesting depth of JSON ``text`` (brackets inside strings counted too:
    an over-estimate only refuses text that is absurd anyway)."""
    depth = peak = 0
    for ch in re.findall(r"[\[\]{}]", text) if text.count("[") + text.count("{") > MAX_JSON_DEPTH else ():
        if ch in "[{":
            depth += 1
            peak = max(peak, depth)
        else:
            depth -= 1
    return peak


def loads_bounded(text: str, **kw):
    """``json.loads`` that refuses nesting deeper than :data:`MAX_JSON_DEPTH` with
    :class:`TooDeep` (a ValueError) instead of a RecursionError."""
    if _depth(text) > MAX_JSON_DEPTH:
        raise TooDeep()
    try:
        return json.loads(text, **kw)
    except RecursionError:
        raise TooDeep() from None
