"""The result schema: one typed :class:`ResultRow` per measured configuration.

A row is written as one flat JSON line (``RUN_DIR/results.jsonl``) whose keys are the field
names below, so the files stay readable with ``jq`` or pandas and consumers of the flat keys
(``latency_p50_ms``, ``parity_passed``, ...) keep working. Every row carries
``schema_version``; :func:`row_from_json` validates a stored row's types and upgrades older
versions, so runs recorded by earlier releases still load. Code reads rows through the
attributes (``row.latency_p50_ms``), never through string keys, and column lists name fields
through :data:`F` (``F.latency_p50_ms``), which fails at import time on a typo.

Versions:

* 1 -- rows without ``schema_version`` (resnext-bench 0.1.0): ``runtime_info.threads_effective``
  could be the string ``"ort-default"``, ``runtime_info.tf32`` a string, and the TensorRT builder
  level was spelled ``builder_optimization_level``.
* 2 -- this file: those are ``int | None``, ``bool | None`` and ``builder_opt_level``; new
  fields ``env_fingerprint``, ``onnx_sha256``, the interleaved-round statistics (``rounds``,
  ``round_medians_ms``, ``round_spread``, ``latency_cv``, ``group_size``) and
  ``parity_paths_max_abs_diff``. A v1 row reads as one round. Added within version 2, absent
  (``None``) in older v2 rows: ``host_load_cores``, ``host_load_round_cores``, ``host_cpus``,
  ``processes``; ``parity_weights``, ``parity_failed``, ``precision_executed`` and the
  ``accuracy_*`` fields (labeled parity inputs).
* 3 -- ``settings``: the runtime settings of the row that are not the defaults
  (``{"graph_opt_level": "disable"}``), part of the key as a canonical suffix
  (``...|224|graph_opt_level=disable``), so that two settings are two rows. A v2 row had no
  such field: it upgrades to ``{}`` (its key, the defaults' key, is unchanged).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field, fields
from types import SimpleNamespace
from typing import Any, Mapping

from .stats import summarize, throughput_ips

SCHEMA_VERSION = 3
#: The identity of a row: what ``--resume`` skips, ``--shard`` hashes and ``compare`` matches;
#: with the row's non-default ``settings`` after them.
KEY_FIELDS = ("arch", "form", "runtime", "device", "precision", "batch", "threads", "image_size")
STATUSES = ("ok", "skipped", "failed")


class SchemaError(ValueError):
    """A stored row that does not fit the schema (wrong type, missing identity field)."""


def canonical_value(value) -> str:
    """A setting's value as a config key spells it (``true`` / ``false`` for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def settings_suffix(settings: Mapping[str, Any]) -> str:
    """``graph_opt_level=disable,ov_hint=throughput``: the canonical, sorted form."""
    return ",".join(f"{k}={canonical_value(v)}" for k, v in sorted(settings.items()))


def base_key(values: Mapping[str, Any]) -> str:
    """``arch|form|runtime|device|precision|batch|threads|image_size``: the key without the
    settings (what two rows that differ only in a setting share)."""
    return "|".join("" if values.get(k) is None else str(values.get(k)) for k in KEY_FIELDS)


def config_key(values: Mapping[str, Any]) -> str:
    """The row identity: :func:`base_key`, then ``|`` and the canonical non-default settings
    when there are any (``...|224|graph_opt_level=disable``)."""
    key = base_key(values)
    settings = values.get("settings") or {}
    return f"{key}|{settings_suffix(settings)}" if settings else key


@dataclass
class Combo:
    """The identity of a row: one combination of a plan (:data:`KEY_FIELDS`)."""

    arch: str
    form: str
    runtime: str
    device: str
    precision: str
    batch: int
    threads: int | None
    image_size: int
    #: the runtime settings that are not the defaults (:data:`resnext_bench.config.RUNTIME_SETTINGS`)
    settings: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return config_key(self.__dict__)

    @property
    def base_key(self) -> str:
        return base_key(self.__dict__)


@dataclass
class ResultRow(Combo):
    """Everything recorded about one combination (the :class:`Combo` fields come first).
    Fields left ``None`` were not measured for this row."""

    # -- identity beyond the key ----------------------------------------------------------------
    family: str | None = None
    cardinality: int | None = None
    width: int | None = None
    # -- complexity (per image; flops = 2 * macs) ---------------------------------------------
    params: int | None = None
    macs: int | None = None
    flops: int | None = None
    # -- outcome ------------------------------------------------------------------------------
    status: str = "ok"
    error: str | None = None
    traceback_tail: list | None = None
    # -- provenance -----------------------------------------------------------------------------
    schema_version: int = SCHEMA_VERSION
    run_id: str | None = None
    tool_version: str | None = None
    timestamp: str | None = None
    env_fingerprint: str | None = None
    node: str | None = None  # host name of the machine that measured the row
    device_model: str | None = None  # GPU name (cuda rows) or CPU model (cpu rows)
    seed: int | None = None
    weights: str | None = None
    # -- latency, from the raw samples (kept) -------------------------------------------------
    timing_method: str | None = None
    warmup: int | None = None
    iters: int | None = None
    measure_seconds: float | None = None
    load_seconds: float | None = None
    samples_ms: list | None = None
    # interleaved rounds: the samples of round r are a contiguous block of samples_ms
    rounds: int | None = None
    round_medians_ms: list | None = None
    round_spread: float | None = None  # (max - min) / median of the round medians
    #: the control workload's reading in each round of this row's group, in round order (its
    #: block's mean call since control version 2; the median in version 1)
    #: (bench/control.py): the machine's speed while each round ran; ``compare`` divides by it
    control_rounds_ms: list | None = None
    control_version: int | None = None
    control_threads: int | None = None  # the control's intra-op threads (the row's own count)
    latency_cv: float | None = None  # std / mean of all samples
    group_size: int | None = None  # configurations interleaved with this one
    processes: int | None = None  # worker processes that timed this row's rounds, in turn
    # CPU cores other processes held while this row's blocks ran (bench/hostload.py); None: not
    # measured (not Linux, or a row from before the probe)
    host_load_cores: float | None = None
    host_load_round_cores: list | None = None
    host_cpus: int | None = None  # CPUs the run could use
    latency_p50_ms: float | None = None
    latency_p90_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    latency_mean_ms: float | None = None
    latency_std_ms: float | None = None
    latency_min_ms: float | None = None
    latency_max_ms: float | None = None
    latency_n: int | None = None
    throughput_ips: float | None = None
    #: inferences of ``batch`` images one timed call completes (OpenVINO's infer requests in
    #: flight); None: one. Throughput counts them all; latency is per call.
    requests_per_call: int | None = None
    achieved_gflops: float | None = None
    # -- serving under concurrent requests (bench/loadgen.py; the load itself is in settings:
    #    concurrency, request_rate, serve_slots). Latency is then per request, queueing included
    load_mode: str | None = None  # "closed" (N clients) or "open" (Poisson arrivals)
    load_slots: int | None = None  # requests served at once (infer requests, concurrent calls)
    load_offered: int | None = None  # requests sent (open loop: arrivals)
    load_completed: int | None = None
    #: open loop: arrivals still queued when the drain limit ran out (the rate was beyond the
    #: server); their latencies are not in the percentiles
    load_unserved: int | None = None
    load_achieved_rps: float | None = None
    load_round_throughput_ips: list | None = None
    #: the measuring process's CPU seconds over wall seconds while the load ran
    cpu_used_cores: float | None = None
    #: the CPUs the measuring worker was pinned to (``--cpus``); None: unpinned
    cpus_pinned: list | None = None
    # GPU rows: host end-to-end time (copies included), beside the CUDA-event compute time
    e2e_samples_ms: list | None = None
    e2e_latency_p50_ms: float | None = None
    e2e_latency_p90_ms: float | None = None
    e2e_latency_p95_ms: float | None = None
    e2e_latency_p99_ms: float | None = None
    e2e_latency_mean_ms: float | None = None
    e2e_latency_std_ms: float | None = None
    e2e_latency_min_ms: float | None = None
    e2e_latency_max_ms: float | None = None
    e2e_latency_n: int | None = None
    e2e_throughput_ips: float | None = None
    # -- parity against the PyTorch fp32 eager reference --------------------------------------
    parity_max_abs_err: float | None = None
    parity_max_rel_err: float | None = None
    parity_cosine: float | None = None
    parity_top1_agreement: float | None = None
    parity_top5_agreement: float | None = None
    parity_passed: bool | None = None
    parity_images: int | None = None
    parity_inputs: str | None = None
    parity_reference: str | None = None
    parity_tolerance: dict | None = None
    #: max |end-to-end path (run_host) - timed path| on the first parity batch
    parity_paths_max_abs_diff: float | None = None
    #: the weights the parity ran on: "default (calibration v3, seed 0)", "trained reference:
    #: ...", or "file NAME sha256:..." -- a verdict on untrained weights is not one on a checkpoint
    parity_weights: str | None = None
    #: the criteria a parity FAIL missed, each with value, threshold and distance
    parity_failed: list | None = None
    #: the precision the engine really ran, where it differs from what was asked or was read
    #: back (OpenVINO's INFERENCE_PRECISION_HINT; TF32): what the parity tolerance was chosen by
    precision_executed: str | None = None
    # -- layer-wise parity (bench/layer_parity.py, core/layerwise.py) ----------------------------
    #: the logits' own verdict, kept beside the row's (which also fails on a failing layer)
    parity_logits_passed: bool | None = None
    parity_layers_passed: bool | None = None
    parity_layers_compared: int | None = None
    #: "layer2.0.branch cosine 0.71 < 0.9 (first failing layer in network order; ...)"
    parity_layers_first_failure: str | None = None
    #: the layer with the largest relative RMS error: {layer, cosine, rel_rms, max_rel, passed}
    parity_layers_worst: dict | None = None
    parity_layers_unmatched: list | None = None
    parity_layers_source: str | None = None
    parity_layers_tolerance: dict | None = None
    parity_layers_notes: list | None = None
    #: every layer, in network order (the full profile; ~3 KB for a resnext50)
    parity_layers_profile: list | None = None
    parity_layers_twin_logits_max_abs_diff: float | None = None
    #: the same over max |timed logits|: how far the twin's kernels differ from the timed file's
    parity_layers_twin_logits_rel_diff: float | None = None
    parity_layers_chunk: int | None = None
    parity_layers_seconds: float | None = None
    #: why no layer-wise comparison ran where one could have (a runtime without taps...)
    parity_layers_skipped: str | None = None
    # -- accuracy on labeled parity inputs (an ImageFolder-style --images DIR, or digits) --------
    accuracy_top1: float | None = None
    accuracy_top5: float | None = None
    accuracy_ref_top1: float | None = None  # torch fp32 eager on the same images
    accuracy_ref_top5: float | None = None
    accuracy_top1_drop: float | None = None  # percentage points, reference minus this row
    accuracy_top1_drop_ci: list | None = None  # 95 % paired bootstrap over images
    accuracy_images: int | None = None
    # -- memory ---------------------------------------------------------------------------------
    peak_rss_mb: float | None = None
    rss_baseline_mb: float | None = None
    peak_rss_method: str | None = None
    device_mem_mb: float | None = None
    device_mem_method: str | None = None
    torch_peak_allocated_mb: float | None = None
    # -- artifact -------------------------------------------------------------------------------
    onnx_path: str | None = None
    onnx_bytes: int | None = None
    onnx_sha256: str | None = None
    onnx_precision: str | None = None
    exporter: str | None = None
    opset: int | None = None
    export_seconds: float | None = None
    export_cache_hit: bool | None = None
    quantization: dict | None = None  # int8: method, calibration source and count, format
    note: str | None = None  # what a reader must know to read this row right
    # -- runtime settings in effect (providers, optimization level, TF32, ...) -----------------
    runtime_info: dict = field(default_factory=dict)
    #: keys this version does not know (a row written by a newer release); kept on round trip
    extra: dict = field(default_factory=dict)

    @property
    def config_key(self) -> str:
        return self.key

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def is_bad(self) -> bool:
        """Failed, or measured but outside its parity tolerance: what makes a run exit 1."""
        return self.status == "failed" or self.parity_passed is False

    def set_latency(self, samples_ms, *, end_to_end: bool = False) -> None:
        """Store raw samples and the statistics built from them (and the throughput)."""
        prefix = "e2e_" if end_to_end else ""
        samples = [round(float(v), 6) for v in samples_ms]
        setattr(self, f"{prefix}samples_ms", samples)
        for k, v in summarize(samples, prefix=f"{prefix}latency_").items():
            setattr(self, k, v)
        mean = getattr(self, f"{prefix}latency_mean_ms")
        setattr(self, f"{prefix}throughput_ips",
                throughput_ips(self.batch * (self.requests_per_call or 1), mean))

    def update(self, values: Mapping[str, Any]) -> "ResultRow":
        """Set schema fields from a mapping (a runtime's or probe's fields); unknown keys fail."""
        for k, v in values.items():
            if k not in FIELD_NAMES:
                raise AttributeError(f"ResultRow has no field {k!r}")
            setattr(self, k, v)
        return self

    def to_json(self, *, samples: bool = True) -> dict:
        """The flat JSON object of one ``results.jsonl`` line (``config_key`` included)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        if not samples:
            out.pop("samples_ms")
            out.pop("e2e_samples_ms")
        out["config_key"] = self.config_key
        out.update({k: v for k, v in self.extra.items() if k not in out})
        return out


FIELD_NAMES = frozenset(f.name for f in fields(ResultRow)) - {"extra"}
#: Field names as attributes: ``F.latency_p50_ms == "latency_p50_ms"``; a typo fails at import.
F = SimpleNamespace(**{name: name for name in FIELD_NAMES}, config_key="config_key")

_HINTS = typing.get_type_hints(ResultRow)
_REQUIRED = [f.name for f in fields(ResultRow)
             if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


def _allowed_types(hint) -> tuple[type, ...]:
    args = typing.get_args(hint) or (hint,)
    return tuple(typing.get_origin(a) or a for a in args)


def _check_type(name: str, value) -> None:
    allowed = _allowed_types(_HINTS[name])
    if value is None:
        if type(None) in allowed:
            return
        raise SchemaError(f"{name} is null")
    if isinstance(value, bool) and bool not in allowed:
        raise SchemaError(f"{name} is a bool, expected {_HINTS[name]}")
    if float in allowed and isinstance(value, int):
        return
    if not isinstance(value, allowed):
        raise SchemaError(f"{name} = {value!r} is a {type(value).__name__}, expected {_HINTS[name]}")


#: fields that hold times: finite and > 0 (a negative or NaN latency is a broken row)
_TIME_LISTS = ("samples_ms", "e2e_samples_ms", "round_medians_ms", "control_rounds_ms")


#: the largest sizes a run can have (the settings' own bounds, in config.py): a row beyond them
#: is not a measurement (``batch: 10**30`` overflowed the HTML report's arithmetic)
ROW_INT_BOUNDS = {"batch": (1, 65536), "image_size": (1, 4096), "threads": (1, 1024),
                  "rounds": (0, 1000), "latency_n": (0, 10**9)}


def _check_numbers(known: dict) -> None:
    """Numbers finite; times (``*_ms`` statistics and sample lists) positive."""
    for name, value in known.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise SchemaError(f"{name} = {value} is not finite")
        timing = name.endswith("_ms") and name.startswith(("latency_", "e2e_latency_"))
        if timing and value is not None:
            if name.endswith("_std_ms") and value >= 0:
                continue
            if not value > 0:
                raise SchemaError(f"{name} = {value} is not a positive time")
        if name in _TIME_LISTS and value is not None:
            for v in value:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                    raise SchemaError(f"{name} holds {v!r}: not a positive time in ms")


def _upgrade_v1(data: dict) -> dict:
    info = dict(data.get("runtime_info") or {})
    if isinstance(info.get("threads_effective"), str):
        info["threads_effective"] = None  # "ort-default": the runtime chose
    if isinstance(info.get("tf32"), str):
        info["tf32"] = True  # v1 wrote "ORT default (use_tf32 not set)": the CUDA EP's default is on
    if "builder_optimization_level" in info:
        info["builder_opt_level"] = info.pop("builder_optimization_level")
    data["runtime_info"] = info
    samples = data.get("samples_ms")
    if samples:
        data.setdefault("latency_n", len(samples))
        data.setdefault("rounds", 1)  # measured back to back: one round
        data.setdefault("round_medians_ms", [data.get("latency_p50_ms")])
    data["schema_version"] = 2
    return data


def _upgrade_v2(data: dict) -> dict:
    data.setdefault("settings", {})  # not recorded before v3: the defaults' key
    data["schema_version"] = 3
    return data


_UPGRADES = {1: _upgrade_v1, 2: _upgrade_v2}


def row_from_json(data: Mapping[str, Any]) -> ResultRow:
    """Validate a stored row, upgrading older schema versions; :class:`SchemaError` if unfit."""
    if not isinstance(data, Mapping):
        raise SchemaError("not a JSON object")
    data = dict(data)
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version < 1:
        raise SchemaError(f"schema_version {version!r} is not a positive integer")
    if version > SCHEMA_VERSION:
        raise SchemaError(f"schema_version {version} is newer than this resnext-bench reads "
                          f"({SCHEMA_VERSION}): upgrade resnext-bench")
    while version < SCHEMA_VERSION:
        data = _UPGRADES[version](data)
        version = data["schema_version"]
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise SchemaError(f"missing {', '.join(missing)}")
    known = {k: v for k, v in data.items() if k in FIELD_NAMES}
    for name, value in known.items():
        _check_type(name, value)
    if known["status"] not in STATUSES:
        raise SchemaError(f"status {known['status']!r} is not one of {', '.join(STATUSES)}")
    for name, (low, top) in ROW_INT_BOUNDS.items():  # a row's sizes as a run can have made them
        value = known.get(name)
        if isinstance(value, int) and not low <= value <= top:
            shown = value if abs(value) < 10**12 else f"{float(value):.3g}"
            raise SchemaError(f"{name} {shown} is outside {low}..{top}")
    _check_numbers(known)
    extra = {k: v for k, v in data.items() if k not in FIELD_NAMES and k != "config_key"}
    return ResultRow(**known, extra=extra)


def exit_code(rows) -> int:
    """The one rule for commands that measure: 1 when any row failed or missed parity, else 0."""
    return 1 if any(r.is_bad for r in rows) else 0
