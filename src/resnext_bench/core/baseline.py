"""Stored baselines: a run kept under a name, so a CI job compares against it instead of
rebuilding the base side every time (asv keeps results per commit the same way).

``baseline save RUN_DIR --name NAME`` copies the run's ``results.jsonl`` and ``env.json`` into
``STORE/NAME/`` (assembled beside it and moved in whole) with ``baseline.json``: when, from
where, the git commit, the machine and the sha256 of both files (checked at every use: an
edited baseline is refused). Only a baseline of the same name is replaced; any other folder at
``STORE/NAME`` is refused and left as it was. ``compare baseline:NAME NEW_RUN`` reads it back and
checks the machine first: timings of two machines are not a regression, so a baseline of
another CPU (or GPU, or CPU set) is a usage error unless ``--allow-other-machine``; other
software versions are a warning, as for any two runs.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from .errors import UsageError
from .fileio import (ensure_dir, file_digest, loads_bounded, read_regular_text, replace_dir, temp_dir_beside,
                     write_json_atomic)
from .rundir import ENV, RESULTS, load_run

PREFIX = "baseline:"
DEFAULT_STORE = ".resnext-bench/baselines"
#: the env.json keys that say which machine measured (not which software)
MACHINE_KEYS = ("cpu", "cpu_flags", "affinity_cpus", "gpu")
#: the machine keys every run records: missing (or of the wrong type) means the machine is unknown
REQUIRED_MACHINE_KEYS = ("cpu", "cpu_flags")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise UsageError(f"baseline name {name!r}: letters, digits, '.', '_' and '-' only (1-100), "
                         "not starting with '.' or '-'")
    return name


#: the files a stored baseline holds (what its record's digests cover)
BASELINE_FILES = (RESULTS, ENV)
RECORD = "baseline.json"


def is_baseline(path: Path, name: str) -> bool:
    """Whether ``path`` is a baseline this tool saved under ``name``: its record names it and
    it holds nothing but the baseline's own files."""
    rec = read_record(path)
    return (rec.get("name") == name and isinstance(rec.get("files"), dict)
            and {p.name for p in path.iterdir()} <= {*BASELINE_FILES, RECORD})


def save_baseline(run_dir: str | Path, name: str, store: str | Path = DEFAULT_STORE) -> dict:
    """Store ``run_dir`` as baseline ``name`` (replacing an older baseline of that name whole);
    returns its record. Whatever else stands at ``STORE/NAME`` -- a user's folder, the run
    itself, a folder holding it -- is refused (exit 2) and left untouched."""
    check_name(name)
    run = load_run(run_dir)  # a run dir with valid rows, or a one-line error
    dest = ensure_dir(store, "baseline store") / name
    src = run.path.resolve()
    if dest.resolve() == src or dest.resolve() in src.parents:
        raise UsageError(f"{dest} is the run being saved (or holds it): store the baseline "
                         "elsewhere (--store or --name); nothing was replaced")
    if dest.exists() or dest.is_symlink():
        if dest.is_symlink() or not dest.is_dir() or not is_baseline(dest, name):
            raise UsageError(f"{dest} exists and is not a baseline this tool saved as {name!r} "
                             "(its baseline.json is missing or names another, or it holds other "
                             "files): not replaced; choose another --name or --store")
    work = temp_dir_beside(dest)
    try:
        shutil.copyfile(run.path / RESULTS, work / RESULTS)
        if (run.path / ENV).is_file():
            shutil.copyfile(run.path / ENV, work / ENV)
        env = run.env or {}
        record = {"name": name, "source_run_dir": str(src),
                  "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rows": len(run.rows),
                  "git_commit": env.get("git_commit"), "fingerprint": env.get("fingerprint"),
                  "machine": {k: env.get(k) for k in MACHINE_KEYS},
                  "files": {f: file_digest(work / f) for f in BASELINE_FILES
                            if (work / f).is_file()}}
        write_json_atomic(work / RECORD, record)
        replace_dir(work, dest)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return record


def baseline_dir(ref: str, store: str | Path = DEFAULT_STORE) -> Path:
    """The run dir a ``baseline:NAME`` reference names (a one-line error when there is none)."""
    name = check_name(ref[len(PREFIX):] if ref.startswith(PREFIX) else ref)
    path = Path(store) / name
    if not (path / RESULTS).is_file():
        have = list_baselines(store)
        raise UsageError(f"no baseline {name!r} in {store}" + (f" (there: {', '.join(have)})" if have
                                                             else "; save one with `resnext-bench baseline save RUN_DIR --name NAME`"))
    files = read_record(path).get("files")
    if not isinstance(files, dict):
        raise UsageError(f"baseline {name!r} in {store} has no digests in its baseline.json "
                         "(saved by an older release, or edited): save it again")
    for f in BASELINE_FILES:
        want, there = files.get(f), (path / f).is_file()
        if (want is None) == there or (there and file_digest(path / f) != want):
            raise UsageError(f"baseline {name!r}: {path / f} is not the file that was saved "
                             "(sha256 differs from its baseline.json): edited or damaged; save "
                             "the baseline again")
    return path


def list_baselines(store: str | Path = DEFAULT_STORE) -> list[str]:
    root = Path(store)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / RESULTS).is_file() and _NAME.match(p.name))


def read_record(path: Path) -> dict:
    try:
        data = loads_bounded(read_regular_text(path / RECORD))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def machine_differences(base_env: dict, new_env: dict) -> list[str]:
    """The machine keys that differ between the baseline's env.json and the new run's."""
    out = []
    if not base_env or not new_env:
        return ["a side has no env.json: its machine is unknown"]
    for k in MACHINE_KEYS:
        a, b = base_env.get(k), new_env.get(k)
        if k in REQUIRED_MACHINE_KEYS and (a is None or b is None):
            # read_env dropped a key of the wrong type: unknown is not "the same machine"
            out.append(f"{k}: {'not recorded' if a is None else a} -> {'not recorded' if b is None else b}")
        elif a != b and a is not None and b is not None:
            out.append(f"{k}: {a} -> {b}")
    return out
