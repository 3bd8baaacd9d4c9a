"""Sweeps from a TOML config: resumable and shardable.

The TOML keys are the settings of :mod:`resnext_bench.config`, flat or under the section
headers ``--help-config`` shows them in (``[plan]``, ``[timing]``, ...); a list key also takes a
single value, and a runtime setting given a list is swept (one row per value);
``resnext-bench sweep --help-config`` lists them with defaults and allowed values. The whole file is checked when it loads, before any work: an unknown key or a bad value
is a one-line error naming the key.

``--resume`` skips combos already recorded ``ok`` in the run dir; every row is appended as one
whole line, so a killed sweep loses at most the combo in flight. ``--shard I/N`` runs the combos
whose key hashes to slice I of N (stable across machines and plan order).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..config import RunConfig, Source
from ..core.errors import UsageError
from ..core.schema import Combo
from .plan import combos, in_shard

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def flatten_sections(values: dict, path: Path) -> dict:
    """``[plan] archs = [...]`` -> ``archs = [...]``: the sections of ``--help-config`` are
    accepted as written; a key under the wrong section, or given twice, is one line."""
    from ..config import SECTIONS, section_of

    flat: dict = {}
    for key, value in values.items():
        if key in SECTIONS and isinstance(value, dict):
            for name, v in value.items():
                owner = section_of(name)
                if owner is not None and owner != key:
                    raise UsageError(f"sweep config {path}: [{key}] {name}: that key belongs "
                                     f"to [{owner}]")
                if name in flat:
                    raise UsageError(f"sweep config {path}: {name} given twice")
                flat[name] = v
        else:
            if key in flat:
                raise UsageError(f"sweep config {path}: {key} given twice")
            flat[key] = value
    return flat


def load_sweep_config(path: str | Path) -> RunConfig:
    path = Path(path)
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"sweep config {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"sweep config {path}: is a directory") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"sweep config {path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} "
                         f"at offset {exc.start}); TOML files are UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"sweep config {path}: invalid TOML ({exc})") from None
    except RecursionError:
        raise UsageError(f"sweep config {path}: nested too deeply") from None
    except OSError as exc:
        raise UsageError(f"sweep config {path}: cannot read ({exc.strerror or exc})") from None
    values = flatten_sections(values, path)
    for key in ("archs", "runtimes"):  # a sweep file says what it measures
        if not values.get(key):
            raise UsageError(f"sweep config {path}: '{key}' is required")
    return RunConfig.from_values(values, Source("toml", str(path)))


def select_combos(config: RunConfig, shard=None, skip: set[str] | None = None
                  ) -> tuple[list[Combo], list[Combo]]:
    """(to run, skipped as already done) for this shard; unusable runtimes are kept (they
    become skipped rows with the reason)."""
    todo, already = [], []
    for c in combos(config, strict=False):
        if not in_shard(c, shard):
            continue
        (already if skip and c.key in skip else todo).append(c)
    return todo, already
