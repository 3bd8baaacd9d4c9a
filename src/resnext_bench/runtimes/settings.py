"""What a runtime really ran with, typed per family, and how to run it again.

Each runtime family declares a :class:`RuntimeSettings` subclass beside its runtime (ORT in
:mod:`.ort_session`, torch in :mod:`.torch_eager`, TensorRT in :mod:`.tensorrt_native`,
OpenVINO in :mod:`.openvino_native`, ORT's OpenVINO provider in :mod:`.ort_openvino`) and names
it as the runtime's ``settings_type``. The runtime fills it from the objects it created (the
session options and provider list ORT got, the properties OpenVINO compiled with, the builder
settings of a TensorRT engine); a worker's ``Finished`` message carries it; the row stores it
flat as ``runtime_info`` (:meth:`RuntimeSettings.to_info`, the keys as they always were); and
the report's options table (:meth:`summary`) and ``deploy`` (:meth:`code`) read it back with
:meth:`from_info` instead of re-deriving what the runtime would have done.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class RuntimeSettings:
    """Base of every family: the fields are settings in effect; ``extra`` holds what the
    runtime recorded beside them (library versions, compile and session-creation seconds)."""

    threads_effective: int | None = None
    extra: dict = field(default_factory=dict)
    #: the fields the runtime recorded (a None among them is written back as None)
    recorded: tuple = field(default=(), repr=False, compare=False)

    #: the fields the report's runtime-options table shows (the rest is in the JSON)
    SUMMARY: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("extra", "recorded"))

    @classmethod
    def from_info(cls, info: dict | None) -> "RuntimeSettings":
        """Read a stored ``runtime_info`` (any version: a key it lacks is None)."""
        info = dict(info or {})
        names = cls.field_names()
        known = {k: info.pop(k) for k in names if k in info}
        return cls(**known, extra=info, recorded=tuple(known))

    def to_info(self) -> dict:
        """The flat ``runtime_info`` of the row: ``extra`` first, then the settings."""
        out = dict(self.extra)
        for name in self.field_names():
            value = getattr(self, name)
            if value is not None or name in self.recorded:
                out[name] = value
        return out

    def summary(self) -> dict[str, Any]:
        """The settings the report's runtime-options table prints, by name."""
        return {k: getattr(self, k) for k in self.SUMMARY if getattr(self, k, None) is not None}

    def code(self, row) -> str:
        """The code that runs ``row``'s artifact as measured (``deploy``'s ``runtime_code``)."""
        return f"# {row.runtime}: no deployment snippet for this runtime"


def py(value) -> str:
    """A Python literal for a snippet (strings JSON-quoted)."""
    return json.dumps(value) if isinstance(value, str) else repr(value)
