"""``TuneOptions``: what a ``tune`` is asked, typed and checked in one place.

The fields are declared as the run settings are (:func:`resnext_bench.config.setting`: help,
kind, choices, bounds), so ``tune``'s command-line flags are generated from them
(:func:`resnext_bench.cli.options.dataclass_options`) as ``bench``'s are from the config
sections, and :meth:`TuneOptions.from_values` coerces and checks every value before anything is
measured: a bad value is a one-line :class:`UsageError` (exit 2) naming the flag.

Pure Python (no heavy import): ``tune --help`` builds its flags from this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from ..config import (OBJECTIVES, PRECISIONS, RUNTIME_NAMES, ConfigError, check_constraints,
                      check_field, coerce_field, field_flag, setting)
from ..core.errors import UsageError

#: the budget's ceiling (a day): a typo such as 6000 is refused, not waited for
MAX_BUDGET_MINUTES = 1440


def _batch(value: str) -> None:
    if value == "auto":
        return
    try:
        ok = int(value) >= 1
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError("batch", value, "must be 'auto' or an integer >= 1")


def _concurrency(value: str) -> None:
    if value == "auto":
        return
    try:
        ok = 1 <= int(value) <= 256
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError("concurrency", value, "must be 'auto' or an integer from 1 to 256")


@dataclass(frozen=True)
class TuneOptions:
    """One tune's question. ``settings``: the run settings every candidate is measured with
    (parity images, weights, calibration, artifacts dir; flat names as ``bench`` takes them),
    not flags of their own here: they are ``bench``'s options and checked by the run config."""

    arch: str = setting(None, "The arch to deploy, e.g. resnext50_32x4d.", kind="str", required=True)
    objective: str = setting("latency", "latency (p50 per call) or throughput (time per image).",
                             kind="str", choices=OBJECTIVES)
    max_latency_ms: float | None = setting(
        None, "Latency budget (p99 of the answer; a candidate whose p50 is already over it is out).",
        kind="float")
    min_throughput: float | None = setting(None, "Images/s floor.", kind="float")
    max_accuracy_drop: float | None = setting(
        None, "Most top-1 drop in points vs torch fp32 (needs a labeled --images folder).",
        kind="float")
    batch: str | None = setting(
        None, "N, or auto (throughput objective: 1, 4, 16). Default: 1 for latency, auto for "
        "throughput.", kind="str", check=_batch)
    budget_minutes: float = setting(
        10.0, "Wall-clock budget of the whole tune (training, exports, int8 calibration, the "
        "search, the confirmation and the bundle); refused up front, with the estimate, when "
        "this machine's history says it cannot fit.", kind="float")
    runtimes: tuple | None = setting(None, "Only these runtimes (default: every one usable here).",
                                     kind="str_list", choices=RUNTIME_NAMES, flag="--runtime")
    precisions: tuple | None = setting(
        None, "Only these precisions (default: every one worth trying here); the default "
        "configuration (ort-cpu fp32) is measured anyway.", kind="str_list", choices=PRECISIONS,
        flag="--precision")
    image_size: int | None = setting(None, "Input size (default: the arch's own).", kind="int", min=1)
    concurrency: str | None = setting(
        None, "Serve N concurrent clients sending single-image requests (a closed loop, "
        "`bench --concurrency`): every candidate is measured under that load, --max-latency-ms "
        "holds its p99 there, and the throughput objective answers the most images/s. auto: "
        "the knee of the default configuration's latency-throughput curve, measured first.",
        kind="str", check=_concurrency)
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not self.arch:
            raise UsageError("--arch is required")
        for f in option_fields():  # each field's own choices, bounds and check
            value = getattr(self, f.name)
            if value is not None:
                try:
                    check_field(f, value)
                except ConfigError as exc:
                    raise UsageError(f"{flag_of(f.name)} {exc.value!r}: {exc.reason}") from None
        check_constraints(max_latency_ms=self.max_latency_ms, min_throughput=self.min_throughput,
                          objective=self.objective, max_accuracy_drop=self.max_accuracy_drop)
        if self.max_accuracy_drop is not None and not self.settings.get("images"):
            raise UsageError("--max-accuracy-drop needs a labeled --images folder (class "
                             "subfolders, e.g. --images digits): accuracy cannot be measured "
                             "without labels")
        b = self.budget_minutes
        if not (isinstance(b, (int, float)) and math.isfinite(b) and 0 < b <= MAX_BUDGET_MINUTES):
            raise UsageError(f"--budget-minutes {b}: must be a number > 0 and <= "
                             f"{MAX_BUDGET_MINUTES} (a day)")
        if self.concurrency is not None and self.batch not in (None, "1"):
            raise UsageError(f"--batch {self.batch} with --concurrency: a request is one image "
                             "under load (the clients make the batch); drop --batch")
        if self.batch is None and self.objective == "throughput" and self.concurrency is None:
            object.__setattr__(self, "batch", "auto")
        object.__setattr__(self, "settings", dict(self.settings))

    @classmethod
    def from_values(cls, values: Mapping[str, Any], settings: Mapping[str, Any] | None = None
                    ) -> "TuneOptions":
        """From the command line's values (strings, comma lists; None: not given): each
        coerced to its field's kind and checked against its choices and bounds."""
        known = {f.name: f for f in option_fields()}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise UsageError(f"tune: unknown option(s) {', '.join(unknown)}")
        typed = {}
        for name, raw in values.items():
            if raw is None:
                continue
            try:
                typed[name] = coerce_field(known[name], raw)
                if isinstance(typed[name], tuple):  # a list given twice over is one value
                    typed[name] = tuple(dict.fromkeys(typed[name]))
            except ConfigError as exc:
                raise UsageError(f"{flag_of(name)} {exc.value!r}: {exc.reason}") from None
        return cls(**typed, settings=dict(settings or {}))

    def constraints(self) -> dict:
        """The constraints as the answer records them."""
        return {"max_latency_ms": self.max_latency_ms, "min_throughput": self.min_throughput,
                "max_accuracy_drop": self.max_accuracy_drop, "batch": self.batch,
                "budget_minutes": self.budget_minutes, "concurrency": self.concurrency}

    @property
    def fixed_concurrency(self) -> int | None:
        """The load as a number (None: no load, or ``auto`` before its knee is measured)."""
        return int(self.concurrency) if self.concurrency not in (None, "auto") else None


def option_fields() -> list:
    """The fields that are command-line options (all but ``settings``)."""
    return [f for f in fields(TuneOptions) if "kind" in f.metadata]


def flag_of(name: str) -> str:
    return field_flag(next(f for f in option_fields() if f.name == name))
