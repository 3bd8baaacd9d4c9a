"""A run dir on disk: ``results.jsonl`` (append-only result rows) and ``env.json``.

Every operation on run dirs lives here -- reading and validating rows, appending one, recording
the environment, finding what a resumed sweep already did, merging shards -- so that the
measuring side (``bench``) and the reading side (``reports``) share it without importing each
other.

A run dir may hold several rows for one config key (a resumed sweep, a re-run): :func:`latest`
keeps the last ``ok`` row per key when there is one, else the last row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError
from .fileio import append_jsonl, ensure_dir, read_jsonl, write_json_atomic
from .schema import ResultRow, SchemaError, row_from_json

RESULTS = "results.jsonl"
ENV = "env.json"
ENV_HISTORY = 20


@dataclass
class RunData:
    """The rows of one run dir (validated, upgraded), its environment, and the lines skipped."""

    path: Path
    rows: list[ResultRow]
    env: dict
    skipped: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    def latest(self) -> list[ResultRow]:
        return latest(self.rows)

    def warning(self) -> str | None:
        """One line saying which lines of results.jsonl were skipped, or None."""
        if not self.skipped:
            return None
        shown = "; ".join(self.skipped[:3]) + ("; ..." if len(self.skipped) > 3 else "")
        return f"{self.path / RESULTS}: skipped {len(self.skipped)} line(s): {shown}"


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
    return RunData(path.parent, rows, load_env(path.parent), skipped)


def load_env(run_dir: str | Path) -> dict:
    try:
        return json.loads((Path(run_dir) / ENV).read_text())
    except (OSError, ValueError):
        return {}


def latest(rows: list[ResultRow]) -> list[ResultRow]:
    """One row per config key: the last ok row if any, else the last row."""
    by_key: dict[str, ResultRow] = {}
    for r in rows:
        old = by_key.get(r.config_key)
        if old is None or r.ok or not old.ok:
            by_key[r.config_key] = r
    return list(by_key.values())


def append_row(run_dir: str | Path, row: ResultRow) -> None:
    """Append one row as one whole JSON line (a killed run loses at most the row in flight)."""
    append_jsonl(Path(run_dir) / RESULTS, row.to_json())


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
    """Join run dirs' rows (one per config key, :func:`latest`) into a new run dir."""
    out = ensure_dir(out_dir, "merge output dir")
    if (out / RESULTS).exists():
        raise UsageError(f"{out / RESULTS} exists: merge into a new dir")
    runs = [load_run(d) for d in run_dirs]
    rows = [r for run in runs for r in run.rows]
    merged = latest(rows)
    for r in merged:
        append_row(out, r)
    envs = [run.env | {"source_run_dir": str(run.path)} for run in runs if run.env]
    env = dict(envs[0]) if envs else {}
    env["merged_from"] = envs
    write_json_atomic(out / ENV, env)
    return {"rows": len(merged), "from_rows": len(rows), "run_dirs": [str(d) for d in run_dirs],
            "skipped": [w for w in (run.warning() for run in runs) if w]}
