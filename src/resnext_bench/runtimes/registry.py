"""Runtime names -> classes, imported lazily so that naming one never loads another's library."""

from __future__ import annotations

import importlib

from ..config import RUNTIME_NAMES, runtime_spec
from ..core.errors import RuntimeUnavailable, UsageError


def get_runtime_class(name: str):
    """The class of runtime ``name``, from its :class:`~resnext_bench.config.RuntimeSpec`: a
    built-in lives in this package, a plugin names its module by its dotted path."""
    spec = runtime_spec(name)
    module = spec.module if "." in spec.module else f"{__package__}.{spec.module}"
    return getattr(importlib.import_module(module), spec.cls)


def check_available(name: str) -> tuple[bool, str]:
    """(usable, reason) without raising: an import failure is a reason, not a crash."""
    try:
        return get_runtime_class(name).available()
    except UsageError:
        raise
    except Exception as exc:  # a broken install must not break `list` or `doctor`
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"


def settings_of(name: str, info: dict | None):
    """A stored ``runtime_info`` read back as runtime ``name``'s typed settings (the base
    :class:`~.settings.RuntimeSettings` for a runtime this version does not know)."""
    from .settings import RuntimeSettings

    family = get_runtime_class(name).settings_type if name in RUNTIME_NAMES else RuntimeSettings
    return family.from_info(info)


def get_runtime(name: str, options=None, *, require_available: bool = True):
    """An instance of runtime ``name``; a runtime unusable here raises :class:`RuntimeUnavailable`."""
    cls = get_runtime_class(name)
    if require_available:
        ok, reason = check_available(name)
        if not ok:
            raise RuntimeUnavailable(f"runtime {name} is not usable here: {reason}")
    return cls(options)


def describe_runtimes() -> list[dict]:
    out = []
    for name in RUNTIME_NAMES:
        ok, reason = check_available(name)
        try:
            versions = get_runtime_class(name).versions()
        except Exception:
            versions = {}
        out.append({"name": name, "available": ok, "reason": reason, "versions": versions})
    return out
