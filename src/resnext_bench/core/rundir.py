"""A run dir on disk: ``results.jsonl`` (append-only result rows) and ``env.json``.

Every operation on run dirs lives here -- reading and validating rows, appending one, recording
the environment, finding what a resumed sweep already did, merging shards -- so that the
measuring side (``bench``) and the reading side (``reports``) share it without importing each
other.

A run dir may hold several rows for one config key (a resumed sweep, a re-run): :func:`latest`
keeps the last ``ok`` row per key when there is one, else the last row.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError
from .fileio import (append_jsonl, ensure_dir, finite_json, loads_bounded, pid_alive, read_jsonl,
                     read_regular_text, remove_dead_temps, write_json_atomic)
from .schema import ResultRow, SchemaError, row_from_json

#: env.json keys that must be equal for two measurements to be comparable as they stand (the
#: machine and the software that decide the numbers): what the rows' ``env_fingerprint``
#: hashes, and what ``compare`` warns about (with the torch thread default, :data:`ENV_COMPARE_KEYS`)
FINGERPRINT_KEYS = ("cpu", "cpu_flags", "affinity_cpus", "gpu", "driver", "python", "packages",
                    "onnxruntime_packages", "tensorrt", "torch_cuda")
ENV_COMPARE_KEYS = FINGERPRINT_KEYS + ("torch_threads",)

RESULTS = "results.jsonl"
ENV = "env.json"
#: this machine's timing history, in the artifacts dir: one line per measured row (written by
#: bench/history.py, read for --dry-run estimates and by compare for its between-run noise)
TIMING_HISTORY = "measured-times.jsonl"
ENV_HISTORY = 20
LOCK = ".lock"
_HELD: dict[Path, list] = {}  # run dir -> [fd, depth]: this process's locks (re-entrant)


@contextlib.contextmanager
def run_dir_lock(run_dir: str | Path):
    """One writer per run dir: an advisory ``fcntl`` lock on ``RUN_DIR/.lock`` holding the
    writer's PID. A second writer is refused with one line naming the holder (two sweeps into
    one dir would each measure against the other's load and write every config twice). The
    kernel drops the lock of a process that died, so a stale lock is simply taken, with a
    warning naming the PID that left it. Re-entrant within one process (tune's stages). A run
    dir this lock created and left holding nothing but the lock (the command was refused, or
    stopped, before writing) is removed: a usage error leaves no empty ``runs/...`` folder."""
    created = not Path(run_dir).exists()
    path = ensure_dir(run_dir, "run dir").resolve()
    if path in _HELD:
        _HELD[path][1] += 1
        try:
            yield
        finally:
            _HELD[path][1] -= 1
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise UsageError(f"{run_dir} is being written by another resnext-bench (PID {holder}); "
                         "two writers would measure against each other and record every "
                         "config twice: wait for it, or use another --out") from None
    old = os.pread(fd, 32, 0).decode(errors="replace").strip()
    if old.isdigit() and int(old) != os.getpid() and not pid_alive(int(old)):
        sys.stderr.write(f"warning: {run_dir}: took over the lock left by PID {old}, which is "
                         "no longer running (its last row, if torn, is repaired on append)\n")
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    for line in remove_dead_temps(path):  # a killed writer's temp files (a tune bundle's...)
        sys.stderr.write(f"warning: {line}\n")
    _HELD[path] = [fd, 1]
    try:
        yield
    finally:
        _HELD.pop(path, None)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            if created and {p.name for p in path.iterdir()} <= {LOCK}:
                (path / LOCK).unlink()
                path.rmdir()
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@dataclass
class RunData:
    """The rows of one run dir (validated, upgraded), its environment, and the lines skipped."""

    path: Path
    rows: list[ResultRow]
    env: dict
    skipped: list[str] = field(default_factory=list)
    env_warning: str | None = None
    #: a tune's answer held in memory (its ``tune.json`` as data); None: read the run dir's
    tune: dict | None = None

    @property
    def name(self) -> str:
        return self.path.name

    def latest(self) -> list[ResultRow]:
        return latest(self.rows)

    def warning(self) -> str | None:
        """One line saying which lines of results.jsonl were skipped, or None."""
        if not self.skipped:
            return self.env_warning
        shown = "; ".join(self.skipped[:3]) + ("; ..." if len(self.skipped) > 3 else "")
        text = f"{self.path / RESULTS}: skipped {len(self.skipped)} line(s): {shown}"
        return text + (f"; {self.env_warning}" if self.env_warning else "")


def read_rows(path: str | Path) -> tuple[list[ResultRow], list[str]]:
    """(valid rows, notes on skipped lines) of a results file; missing file: nothing."""
    raw, skipped = read_jsonl(path)
    rows = []
    for i, data in enumerate(raw):
        try:
            rows.append(row_from_json(data))
        except SchemaError as exc:
            skipped.append(f"row {i + 1}: {exc}")
    return rows, skipped


def load_run(run_dir: str | Path) -> RunData:
    """A run dir's rows; :class:`UsageError` when it is not a run dir or holds no valid row."""
    run_dir = Path(run_dir)
    path = run_dir / RESULTS if run_dir.is_dir() else run_dir
    if not path.is_file():
        raise UsageError(f"{run_dir}: no {RESULTS} (not a run dir)")
    rows, skipped = read_rows(path)
    if not rows:
        why = f" ({'; '.join(skipped[:2])})" if skipped else ""
        raise UsageError(f"{path}: no valid result rows{why}")
    env, env_warning = read_env(path.parent)
    return RunData(path.parent, rows, env, skipped, env_warning)


def load_env(run_dir: str | Path) -> dict:
    env, _ = read_env(run_dir)
    return env


#: the types of the env.json keys readers use; a key of another type is dropped with a warning
ENV_TYPES: dict[str, tuple[type, ...]] = {
    "cpu": (str,), "gpu": (str,), "driver": (str,), "python": (str,), "platform": (str,),
    "hostname": (str,), "timestamp": (str,), "fingerprint": (str,), "git_commit": (str,),
    "resnext_bench_version": (str,), "executor": (str,),
    "cpu_flags": (list,), "argv": (list,), "runtimes": (list,), "previous": (list,),
    "merged_from": (list,), "nodes": (list,),
    "config": (dict,), "packages": (dict,), "onnxruntime_packages": (dict,),
    "result_settings": (dict,), "tensorrt": (dict, str), "torch_cuda": (str, dict),
    "cudnn": (str, int, dict), "gpu_capability": (str, list),
    "affinity_cpus": (int,), "cpu_count": (int,), "torch_threads": (int,),
    "memory_gb": (int, float),
}


def _env_problems(env: dict) -> list[str]:
    """Drop (in place) the env.json keys whose value has the wrong type, and the entries of its
    lists of records that are not objects; returns what was dropped."""
    bad = []
    for key, types in ENV_TYPES.items():
        value = env.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            bad.append(f"{key} ({type(value).__name__}, not {' or '.join(t.__name__ for t in types)})")
            del env[key]
    for key in ("previous", "merged_from", "runtimes", "nodes"):
        if isinstance(env.get(key), list) and not all(isinstance(x, dict) for x in env[key]):
            bad.append(f"{key} (entries that are not objects)")
            env[key] = [x for x in env[key] if isinstance(x, dict)]
    if isinstance(env.get("cpu_flags"), list) and not all(isinstance(x, str) for x in env["cpu_flags"]):
        bad.append("cpu_flags (entries that are not strings)")
        env["cpu_flags"] = [x for x in env["cpu_flags"] if isinstance(x, str)]
    for key in ("packages", "onnxruntime_packages"):
        if isinstance(env.get(key), dict) and not all(isinstance(v, (str, type(None))) for v in env[key].values()):
            bad.append(f"{key} (versions that are not strings)")
            env[key] = {k: v for k, v in env[key].items() if isinstance(v, (str, type(None)))}
    return bad


def read_env(run_dir: str | Path) -> tuple[dict, str | None]:
    """(env.json, a warning when it exists but cannot be read as a JSON object, or some of its
    keys have the wrong type -- those are dropped, so no reader meets a string where it expects
    a dict)."""
    path = Path(run_dir) / ENV
    try:
        env = loads_bounded(read_regular_text(path))
    except FileNotFoundError:
        return {}, None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError, TooDeep are ValueErrors
        why = getattr(exc, "strerror", None) or type(exc).__name__  # "not a regular file" (a FIFO)
        return {}, f"{path}: not readable as JSON ({why}); environment unknown"
    if not isinstance(env, dict):
        return {}, f"{path}: not a JSON object; environment unknown"
    bad = _env_problems(env)
    if bad:
        return env, f"{path}: ignored keys of the wrong type: {'; '.join(bad[:4])}"
    return env, None


def latest(rows: list[ResultRow]) -> list[ResultRow]:
    """One row per config key: the last ok row if any, else the last row."""
    by_key: dict[str, ResultRow] = {}
    for r in rows:
        old = by_key.get(r.config_key)
        if old is None or r.ok or not old.ok:
            by_key[r.config_key] = r
    return list(by_key.values())


def append_row(run_dir: str | Path, row: ResultRow) -> None:
    """Append one row as one whole JSON line (a killed run loses at most the row in flight);
    non-finite statistics are written as null and the row's note says which."""
    data, bad = finite_json(row.to_json())
    if bad:
        shown = ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
        data["note"] = "; ".join(filter(None, [data.get("note"),
                                               f"non-finite values written as null: {shown}"]))
    append_jsonl(Path(run_dir) / RESULTS, data)


def record_env(run_dir: str | Path, env: dict) -> dict:
    """Write ``env.json``; a resumed or merged run keeps the environments it ran in before."""
    path = Path(run_dir) / ENV
    old = load_env(run_dir) if path.exists() else {}
    if old:
        history = old.get("previous", []) + [{k: v for k, v in old.items() if k != "previous"}]
        env = dict(env, previous=history[-ENV_HISTORY:])
    write_json_atomic(path, env)
    return env


def done_keys(run_dir: str | Path) -> set[str]:
    """Config keys already recorded ``ok`` (what ``sweep --resume`` skips)."""
    rows, _ = read_rows(Path(run_dir) / RESULTS)
    return {r.config_key for r in rows if r.ok}


def merge_runs(run_dirs: list[str | Path], out_dir: str | Path) -> dict:
    """Join run dirs' rows into a new run dir: every row, in order, raw samples included (the
    history: a later failure stays visible, and ``compare`` / ``report`` apply their own
    last-row rules to it). env.json is written first, so a merge that fails half way leaves
    a run dir that says where its rows came from, and the rows are appended whole."""
    out = ensure_dir(out_dir, "merge output dir")
    if (out / RESULTS).exists():
        raise UsageError(f"{out / RESULTS} exists: merge into a new dir")
    runs = [load_run(d) for d in run_dirs]
    rows = [r for run in runs for r in run.rows]
    envs = [run.env | {"source_run_dir": str(run.path)} for run in runs if run.env]
    env = dict(envs[0]) if envs else {}
    env["merged_from"] = envs
    with run_dir_lock(out):
        write_json_atomic(out / ENV, env)
        for r in rows:
            append_row(out, r)
    keys = {r.config_key for r in rows}
    return {"rows": len(rows), "configs": len(keys), "from_rows": len(rows),
            "run_dirs": [str(d) for d in run_dirs],
            "skipped": [w for w in (run.warning() for run in runs) if w]}


def read_timing_history(artifacts, node: str | None = None) -> list[dict]:
    """The :data:`TIMING_HISTORY` entries that machine ``node`` (default: this one) wrote in the
    artifacts dir ``artifacts``; empty where there is none or it cannot be read."""
    import platform

    try:
        rows, _ = read_jsonl(Path(artifacts) / TIMING_HISTORY)
    except (OSError, ValueError):
        return []
    node = node or platform.node()
    return [r for r in rows if isinstance(r, dict) and r.get("node") == node]
