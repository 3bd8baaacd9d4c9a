"""Cache entries that cannot serve stale or foreign data.

Every file the tool caches and reads back (calibrated weights, the trained reference's
weights, parity references, digits folders; exports and int8 files keep the same record in
their own summary sidecar) is written with a sidecar ``NAME.sha256.json`` recording the
file's sha256 and size and a description of what it was made from. A read verifies both
before serving it: a file replaced after it was written (a poisoned cache, another tool, a
half-restored backup) or one made from other content is rebuilt from its source with one
warning line on stderr, never served.

The key of an entry (its name) already holds the *content* it was made from (weights digest,
image digests, versions); the digest proves the file still is what was written under that key.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .fileio import file_digest, loads_bounded, write_json_atomic

SIDECAR_SUFFIX = ".sha256.json"


def sidecar_of(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def record_digest(path: str | Path, made_from: str) -> None:
    """Record ``path``'s sha256 and size (after it was written whole) and what it was made from."""
    path = Path(path)
    write_json_atomic(sidecar_of(path), {"sha256": file_digest(path), "bytes": path.stat().st_size,
                                         "made_from": made_from})


def entry_problem(path: str | Path, made_from: str, *, digest: bool = True) -> str | None:
    """Why the cache entry at ``path`` (which exists) must not be served, or None when its
    recorded digest, size and source match. ``digest=False``: the size and source only, for a
    process reading an entry its group's prepare process verified moments before (a measuring
    worker never hashes a file again)."""
    path = Path(path)
    try:
        record = loads_bounded(sidecar_of(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no recorded digest (written by another tool or an older release)"
    except (OSError, ValueError, UnicodeDecodeError):
        return "its digest record is unreadable"
    if not isinstance(record, dict):
        return "its digest record is unreadable"
    if record.get("made_from") != made_from:
        return f"made from other content ({record.get('made_from')!r}, wanted {made_from!r})"
    try:
        size = path.stat().st_size
        if record.get("bytes") != size or (digest and record.get("sha256") != file_digest(path)):
            return "its sha256 differs from the one recorded when it was written (changed since)"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    return None


def warn_rebuilt(path: str | Path, why: str) -> None:
    """The one warning line a rebuilt cache entry gets."""
    sys.stderr.write(f"warning: cache entry {path}: {why}: not used, rebuilt from its source\n")
    sys.stderr.flush()


def drop(path: str | Path) -> None:
    """Remove an entry and its digest record (before rebuilding it)."""
    for p in (Path(path), sidecar_of(path)):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            pass
