"""Runtimes behind one small interface, looked up by name (see :mod:`.base`)."""

from .registry import RUNTIME_NAMES, describe_runtimes, get_runtime

__all__ = ["RUNTIME_NAMES", "describe_runtimes", "get_runtime"]
