"""Read a run dir (``results.jsonl`` + ``env.json``) into a pandas DataFrame.

A run dir may hold several rows for one config key (a resumed sweep, a re-run); :func:`latest`
keeps the last row per key, preferring an ``ok`` row over a later skipped/failed one only when
asked (``prefer_ok``), so that reports show what was measured.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..bench.plan import config_key
from ..errors import UsageError
from ..fileio import read_jsonl


def load_rows(run_dir: str | Path) -> list[dict]:
    run_dir = Path(run_dir)
    path = run_dir / "results.jsonl" if run_dir.is_dir() else run_dir
    if not path.is_file():
        raise UsageError(f"{run_dir}: no results.jsonl (not a run dir)")
    rows = read_jsonl(path)
    if not rows:
        raise UsageError(f"{path}: no result rows")
    for r in rows:
        r.setdefault("config_key", config_key(r))
    return rows


def load_env(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "env.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def latest(rows: list[dict], prefer_ok: bool = True) -> list[dict]:
    """One row per config key: the last ok row if any (``prefer_ok``), else the last row."""
    by_key: dict[str, dict] = {}
    for r in rows:
        k = r["config_key"]
        old = by_key.get(k)
        if old is None or not prefer_ok or r.get("status") == "ok" or old.get("status") != "ok":
            by_key[k] = r
    return list(by_key.values())

