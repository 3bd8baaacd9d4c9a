"""Which Python distributions are installed, without importing them (cheap: ``available()``
and ``doctor`` call these for every runtime)."""

from __future__ import annotations

import importlib.metadata
import importlib.util


def dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def module_present(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False

