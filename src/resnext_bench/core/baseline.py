"""Stored baselines: a run kept under a name, so a CI job compares against it instead of
rebuilding the base side every time (asv keeps results per commit the same way).

``baseline save RUN_DIR --name NAME`` copies the run's ``results.jsonl`` and ``env.json`` into
``STORE/NAME/`` (assembled beside it and moved in whole) with ``baseline.json``: when, from
where, the git commit and the machine. ``compare baseline:NAME NEW_RUN`` reads it back and
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
from .fileio import ensure_dir, loads_bounded, replace_dir, temp_dir_beside, write_json_atomic
from .rundir import ENV, RESULTS, load_run

PREFIX = "baseline:"
DEFAULT_STORE = ".resnext-bench/baselines"
#: the env.json keys that say which machine measured (not which software)
MACHINE_KEYS = ("cpu", "cpu_flags", "affinity_cpus", "gpu")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise UsageError(f"baseline name {name!r}: letters, digits, '.', '_' and '-' only (1-100), "
                         "not starting with '.' or '-'")
    return name


def save_baseline(run_dir: str | Path, name: str, store: str | Path = DEFAULT_STORE) -> dict:
    """Store ``run_dir`` as baseline ``name`` (replacing an older one whole); returns its record."""
    check_name(name)
    run = load_run(run_dir)  # a run dir with valid rows, or a one-line error
    dest = ensure_dir(store, "baseline store") / name
    work = temp_dir_beside(dest)
    try:
        shutil.copyfile(run.path / RESULTS, work / RESULTS)
        if (run.path / ENV).is_file():
            shutil.copyfile(run.path / ENV, work / ENV)
        env = run.env or {}
        record = {"name": name, "source_run_dir": str(run.path.resolve()),
                  "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rows": len(run.rows),
                  "git_commit": env.get("git_commit"), "fingerprint": env.get("fingerprint"),
                  "machine": {k: env.get(k) for k in MACHINE_KEYS}}
        write_json_atomic(work / "baseline.json", record)
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
    return path


def list_baselines(store: str | Path = DEFAULT_STORE) -> list[str]:
    root = Path(store)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / RESULTS).is_file() and _NAME.match(p.name))


def read_record(path: Path) -> dict:
    try:
        data = loads_bounded((path / "baseline.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def machine_differences(base_env: dict, new_env: dict) -> list[str]:
    """The machine keys that differ between the baseline's env.json and the new run's."""
    out = []
    for k in MACHINE_KEYS:
        a, b = base_env.get(k), new_env.get(k)
        if a != b and a is not None and b is not None:
            out.append(f"{k}: {a} -> {b}")
    if not base_env or not new_env:
        out.append("a side has no env.json: its machine is unknown")
    return out
