"""The typed run configuration: one place where every setting is named, defaulted and checked.

A run is described by a :class:`RunConfig` made of small frozen sections -- the plan (what to
measure), timing, parity, export, and one options section per runtime family. Each setting is
one dataclass field declared with :func:`setting`, which gives it

* one name: the sweep TOML key is the field name, the CLI flag is derived from it
  (``graph_opt_level`` -> ``--graph-opt-level``; list settings keep their singular flag,
  ``archs`` -> ``--arch``, as the CLI always had);
* one default, one help text, and one check (choices, a numeric range, or a function),
  run in the section's ``__post_init__``.

The CLI and the sweep TOML both go through :meth:`RunConfig.from_values`, so a bad value is
caught before any work starts, from either source, with one line naming the key as the user
wrote it, the value and what is allowed. ``resnext-bench sweep --help-config`` prints the keys
from these dataclasses (:func:`describe_settings`); there is no second hand-written list.

Pure Python on purpose: the CLI imports this module to build its options, and ``--help`` must
not load torch or onnxruntime.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

from .core.errors import UsageError
from .models.imagefiles import IMAGE_KEYWORDS, IMAGE_SUFFIXES, SYNTHETIC, image_files
from .models.spec import FORMS, parse_arch

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
#: what a configuration is chosen for: p50 per call, or time per image (``tune``, ``recommend``)
OBJECTIVES = ("latency", "throughput")
#: the latency a ``--max-latency-ms`` constraint holds (``recommend --latency-metric``)
LATENCY_METRICS = ("p50", "p90", "p95", "p99")
#: what `export` writes: int8 is the QDQ file a quantizer (NNCF or ONNX Runtime) makes of the fp32 export
EXPORT_PRECISIONS = ("fp32", "fp16", "int8")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
CALIB_METHODS = ("minmax", "entropy", "percentile")
QUANT_ACTIVATIONS = ("auto", "uint8", "int8")
#: int8 quantizers (exporters/quantizers.py): NNCF's ``nncf.quantize`` (ONNX backend) and ONNX
#: Runtime's ``quantize_static``; the first is the default
QUANTIZERS = ("nncf", "ort")
EXPORTERS = ("dynamo", "torchscript")
DEVICES = ("auto", "cpu", "cuda")
GRAPH_OPT_LEVELS = ("disable", "basic", "extended", "all")
CUDNN_ALGOS = ("EXHAUSTIVE", "HEURISTIC", "DEFAULT")
OV_HINTS = ("latency", "throughput", "none")
#: TOML keys that describe a sweep file and configure nothing
INFO_KEYS = ("name", "description")


#: settings that make another int8 artifact (any runtime, int8 rows only); the calibration
#: folder is recorded in the row's ``quantization``, not in the key (a path is not portable)
INT8_SETTINGS = ("quantizer", "calib_method", "calib_count", "calib_crops", "quant_activations",
                 "int8_target", "int8_max_float")
#: the serving settings: a row measured under concurrent requests (bench/loadgen.py) instead of
#: one caller; read by every runtime whose spec ``serves``
SERVE_SETTINGS = ("concurrency", "request_rate", "serve_slots")
#: settings that only a CUDA device reads, whatever the runtime
CUDA_ONLY_SETTINGS = ("cuda_graph",)
#: the sweepable settings whose CLI value is never split at commas (the value has commas)
_NO_SPLIT = ("int8_target",)

_KINDS = ("str", "int", "float", "bool", "path", "str_list", "int_list")
#: upper bounds that a run can finish in: calls per configuration (a million 1-ms calls take
#: 17 minutes; ``iters = 10**12`` ran without end while showing "ETA 7s") and seconds (a day)
MAX_CALLS = 1_000_000
MAX_SECONDS = 86_400.0


class ConfigError(UsageError):
    """A setting with a bad value; rendered with the key as the user's source spells it."""

    def __init__(self, name: str, value: Any, reason: str):
        super().__init__(f"{name} = {value!r}: {reason}")
        self.name, self.value, self.reason = name, value, reason

    def render(self, source: "Source") -> UsageError:
        return UsageError(f"{source.where}{source.key(self.name)} {self.value!r}: {self.reason}")


@dataclass(frozen=True)
class Source:
    """Where values came from: the CLI (keys shown as flags) or a TOML file (keys as keys)."""

    kind: str  # "cli" | "toml"
    path: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path}: " if self.path else ""

    def key(self, name: str) -> str:
        if self.kind == "cli":
            return cli_flag(name)
        return f"{name} ="


CLI = Source("cli")


def check_constraints(*, max_latency_ms=None, min_throughput=None, batch=None, objective="latency",
                      latency_metric="p99", max_accuracy_drop=None, **_filters) -> None:
    """Constraints that no row could meet are input errors (exit 2), not "nothing fits" (1):
    ``recommend``'s and ``tune``'s (:class:`~resnext_bench.tune.options.TuneOptions`) one check."""
    if max_accuracy_drop is not None and not (math.isfinite(max_accuracy_drop) and max_accuracy_drop >= 0):
        raise UsageError(f"--max-accuracy-drop {max_accuracy_drop}: must be a finite number of points >= 0")
    for flag, v in (("--max-latency-ms", max_latency_ms), ("--min-throughput", min_throughput)):
        if v is not None and not math.isfinite(v):
            raise UsageError(f"{flag} {v}: must be a finite number")
    if max_latency_ms is not None and not max_latency_ms > 0:
        raise UsageError(f"--max-latency-ms {max_latency_ms}: must be > 0")
    if min_throughput is not None and min_throughput < 0:
        raise UsageError(f"--min-throughput {min_throughput}: must be >= 0")
    if batch is not None and batch < 1:
        raise UsageError(f"--batch {batch}: must be >= 1")
    if objective not in OBJECTIVES:
        raise UsageError(f"--objective {objective!r}: must be one of {', '.join(OBJECTIVES)}")
    if latency_metric not in LATENCY_METRICS:
        raise UsageError(f"--latency-metric {latency_metric!r}: must be one of {', '.join(LATENCY_METRICS)}")


def setting(default, help: str, *, kind: str, choices: tuple | None = None, min=None, max=None,
            check: Callable[[Any], None] | None = None, flag: str | None = None,
            required: bool = False):
    """Declare one setting: default, help, value kind and its check (see the module doc);
    ``required``: a command option that must be given (``tune --arch``)."""
    assert kind in _KINDS, kind
    return field(default=default, metadata={"help": help, "kind": kind, "choices": choices,
                                            "min": min, "max": max, "check": check, "flag": flag,
                                            "required": required})


def cli_flag(name: str) -> str:
    """The CLI flag of a setting (``--graph-opt-level``; ``--arch`` for ``archs``...)."""
    return field_flag(_FIELDS[name])


def field_flag(f) -> str:
    """The CLI flag of a field declared with :func:`setting` (a run setting, or an option of a
    typed command such as ``tune``)."""
    return f.metadata["flag"] or "--" + f.name.replace("_", "-")


def _check_value(name: str, meta: Mapping, value) -> None:
    if value is None:
        return
    items = value if meta["kind"].endswith("_list") else (value,)
    for v in items:
        if meta["choices"] is not None and v not in meta["choices"]:
            raise ConfigError(name, v, f"must be one of {', '.join(map(str, meta['choices']))}")
        if meta["min"] is not None and v < meta["min"]:
            raise ConfigError(name, v, f"must be >= {meta['min']}")
        if meta["max"] is not None and v > meta["max"]:
            raise ConfigError(name, v, f"must be <= {meta['max']}")
        if meta["check"] is not None:
            try:
                meta["check"](v)
            except ConfigError:
                raise
            except UsageError as exc:
                raise ConfigError(name, v, str(exc)) from None


class Section:
    """Base of the frozen config sections: checks every field's value once, at construction;
    :meth:`with_values` checks only what it changes (a path checked once is not stat'ed again
    for every job and stage)."""

    def __post_init__(self):
        for f in fields(self):
            _check_value(f.name, f.metadata, getattr(self, f.name))
        self._check_relations()

    def _check_relations(self) -> None:
        """Rules between this section's fields (a section with such rules overrides it)."""

    def with_values(self, **changes):
        """A copy with some (coerced) fields changed: those fields' checks and the section's
        relations run again, the others' do not."""
        import copy

        new = copy.copy(self)
        for name, value in changes.items():
            _check_value(name, _FIELDS[name].metadata, value)
            object.__setattr__(new, name, value)
        new._check_relations()
        return new


def _check_arch(name: str) -> None:
    parse_arch(name)


def _check_digits_available() -> None:
    import importlib.util

    if importlib.util.find_spec("sklearn") is None:
        raise UsageError("needs scikit-learn (pip install 'resnext-bench[reference]')")


def _check_calib_images(path: str) -> None:
    if path != SYNTHETIC:
        _check_image_dir(path)


def _check_int8_target(spec: str) -> None:
    from .core.parity import parse_int8_target

    parse_int8_target(spec)


def _check_file(path: str) -> None:
    if not Path(path).exists():
        raise UsageError("no such file")
    if not Path(path).is_file():
        raise UsageError("not a regular file (a folder, a FIFO or a device)")


def _check_weights(path: str) -> None:
    from .models.weightsource import TRAINED_WEIGHTS

    if path in TRAINED_WEIGHTS:
        _check_digits_available()
        return
    _check_file(path)


def _check_image_dir(path: str) -> None:
    if path in IMAGE_KEYWORDS:
        if path != "builtin":
            _check_digits_available()
        return
    if not Path(path).is_dir():
        raise UsageError("no such directory")
    if not image_files(path):
        raise UsageError(f"no image files ({', '.join(IMAGE_SUFFIXES)})")


# ---------------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class RuntimeSpec:
    """Everything the tool knows about a runtime without importing it: one entry of
    :data:`RUNTIME_SPECS`, from which the plan, the registry, the CLI's options, ``tune``'s
    candidates and the bundle all derive (adding a runtime: its module under ``runtimes/``, one
    entry here, and an options section here if it has options of its own; outside this package,
    a plugin module calls :func:`register_runtime`).

    ``module``: its module under ``runtimes/`` (a plugin's: a full dotted path), ``cls``: its
    :class:`~resnext_bench.runtimes.base.Runtime` subclass there.
    ``devices``: ``("cpu",)`` or ``("cuda",)``, or both for a runtime that runs where
    ``--device`` says. ``sections``: the option sections its instances read
    (:class:`~resnext_bench.runtimes.base.RuntimeOptions`). ``settings``: the settings that change
    what its rows measure -- a row's key names those that are not the defaults
    (``ort-cpu|...|graph_opt_level=disable``), so two settings are two rows and can be swept in
    one run; a setting none of a run's runtimes reads is refused (one runtime named) or noted,
    never silently ignored. ``only_options``: options it reads that do not change what a row
    measures (never in a key). ``runs_onnx``: it runs the exported file (else the torch module).
    ``bundle``: the loader a tune bundle's ``run.py`` uses for it (``onnxruntime``, ``openvino``,
    ``torch``; None: the bundle says it has none). ``expensive_load``: why ``tune`` tries it at
    all usable CPUs only (each candidate costs a long load)."""

    name: str
    module: str
    cls: str
    devices: tuple[str, ...] = ("cpu",)
    sections: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()
    only_options: tuple[str, ...] = ()
    runs_onnx: bool = True
    bundle: str | None = None
    expensive_load: str | None = None
    #: it answers concurrent requests (``Runtime.serving_slots``): rows under load
    #: (:data:`SERVE_SETTINGS`) are measured for it
    serves: bool = False


_BUILTIN_SPECS: tuple[RuntimeSpec, ...] = (
    RuntimeSpec("torch", "torch_eager", "TorchRuntime", ("cpu", "cuda"), ("torch", "cuda"),
                ("channels_last", "cuda_graph"), runs_onnx=False, bundle="torch", serves=True),
    RuntimeSpec("torch-compile", "torch_compile", "TorchCompileRuntime", ("cpu", "cuda"), ("torch",),
                ("channels_last", "compile_mode"), runs_onnx=False, bundle="torch",
                expensive_load="each thread count is a fresh inductor compile (20-60 s here); "
                               "tried at all usable CPUs only"),
    RuntimeSpec("ort-cpu", "ort_cpu", "OrtCpuRuntime", ("cpu",), ("ort",), ("graph_opt_level",),
                bundle="onnxruntime", serves=True),
    RuntimeSpec("ort-cuda", "ort_cuda", "OrtCudaRuntime", ("cuda",), ("ort",),
                ("graph_opt_level", "cudnn_algo"), bundle="onnxruntime"),
    RuntimeSpec("ort-trt", "ort_trt", "OrtTrtRuntime", ("cuda",), ("ort", "tensorrt"),
                ("graph_opt_level", "cudnn_algo", "workspace_mb", "builder_opt_level",
                 "profile_max_batch"), bundle="onnxruntime"),
    RuntimeSpec("tensorrt", "tensorrt_native", "TensorRTRuntime", ("cuda",), ("tensorrt", "cuda"),
                ("workspace_mb", "builder_opt_level", "cuda_graph", "profile_max_batch")),
    RuntimeSpec("openvino", "openvino_native", "OpenVinoRuntime", ("cpu",), ("openvino",),
                ("ov_hint", "ov_streams", "ov_requests"), only_options=("ov_cache",),
                bundle="openvino", serves=True),
    RuntimeSpec("ort-openvino", "ort_openvino", "OrtOpenVinoRuntime", ("cpu",), ("ort", "openvino"),
                ("graph_opt_level", "ov_hint", "ov_streams"), bundle="onnxruntime", serves=True),
)
#: option sections that runtime plugins declared (:func:`register_runtime`)
_PLUGIN_SECTIONS: dict[str, type] = {}
_PLUGIN_SPECS: list[RuntimeSpec] = []
#: modules (comma-separated) that register runtimes when this module loads: a runtime outside
#: this package is one module of its own (the :class:`~resnext_bench.runtimes.base.Runtime`
#: subclass) and one registry entry (a module that calls :func:`register_runtime`)
RUNTIME_PLUGINS_ENV = "RESNEXT_BENCH_RUNTIMES"


def register_runtime(spec: RuntimeSpec, sections: Mapping[str, type] | None = None) -> None:
    """Add a runtime from a plugin module named in ``$RESNEXT_BENCH_RUNTIMES`` (called while this
    module loads, before the tables below are derived; ``spec.module`` then names the runtime's
    module by its full dotted path). ``sections``: option sections of its own, by the names its
    spec's ``sections`` use (frozen dataclasses of :class:`Section` whose fields are made with
    :func:`setting`)."""
    if spec.name in {s.name for s in (*_BUILTIN_SPECS, *_PLUGIN_SPECS)}:
        raise UsageError(f"runtime {spec.name!r} is registered twice")
    _PLUGIN_SPECS.append(spec)
    _PLUGIN_SECTIONS.update(sections or {})


#: why a plugin named in ``$RESNEXT_BENCH_RUNTIMES`` did not register (the CLI refuses to run
#: with it, exit 2 in one line; an import-time exception here would be a traceback)
PLUGIN_ERRORS: list[str] = []


def _load_runtime_plugins() -> None:
    import importlib
    import os

    for name in filter(None, (m.strip() for m in os.environ.get(RUNTIME_PLUGINS_ENV, "").split(","))):
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 -- reported by the CLI as one line
            PLUGIN_ERRORS.append(f"${RUNTIME_PLUGINS_ENV}: cannot load {name!r} "
                                 f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")


_load_runtime_plugins()
RUNTIME_SPECS: tuple[RuntimeSpec, ...] = (*_BUILTIN_SPECS, *_PLUGIN_SPECS)
_SPECS = {spec.name: spec for spec in RUNTIME_SPECS}
RUNTIME_NAMES = tuple(_SPECS)
#: runtimes that only run on a CUDA device
GPU_RUNTIMES = tuple(n for n, spec in _SPECS.items() if spec.devices == ("cuda",))
#: runtimes that run where ``device`` says (cpu or cuda)
TORCH_RUNTIMES = tuple(n for n, spec in _SPECS.items() if len(spec.devices) > 1)
#: the row settings of each runtime (:attr:`RuntimeSpec.settings`)
RUNTIME_SETTINGS: dict[str, tuple[str, ...]] = {
    n: spec.settings + (SERVE_SETTINGS if spec.serves else ()) for n, spec in _SPECS.items()}
#: options a runtime reads that do not change what its row measures (not row settings, never
#: in a row's key); given for runtimes none of which reads them, refused as any setting is
RUNTIME_ONLY_OPTIONS: dict[str, tuple[str, ...]] = {}
for _spec in RUNTIME_SPECS:
    for _name in _spec.only_options:
        RUNTIME_ONLY_OPTIONS[_name] = RUNTIME_ONLY_OPTIONS.get(_name, ()) + (_spec.name,)
#: the option sections runtimes read, in first-use order; those of the runtimes that run ONNX
#: files (``ab``'s options)
RUNTIME_SECTIONS = tuple(dict.fromkeys(sec for spec in RUNTIME_SPECS for sec in spec.sections))
ONNX_RUNTIME_SECTIONS = tuple(dict.fromkeys(sec for spec in RUNTIME_SPECS if spec.runs_onnx
                                            for sec in spec.sections))


def runtime_spec(name: str) -> RuntimeSpec:
    """The spec of runtime ``name`` (a one-line error naming the runtimes for another name)."""
    try:
        return _SPECS[name]
    except KeyError:
        raise UsageError(f"unknown runtime {name!r}; choose from {', '.join(RUNTIME_NAMES)}") from None


def runtime_device(name: str, torch_device: str = "cpu") -> str:
    """The device a row of runtime ``name`` runs on: its only device, or ``torch_device``
    (what ``--device`` resolved to) for a runtime that runs on either."""
    devices = runtime_spec(name).devices
    return devices[0] if len(devices) == 1 else torch_device


#: settings that may take several values in one run (each value its own rows)
SWEEPABLE = tuple(dict.fromkeys(n for names in RUNTIME_SETTINGS.values() for n in names)) + INT8_SETTINGS


@dataclass(frozen=True)
class PlanConfig(Section):
    """What to measure: the cartesian product of these lists, one row per combination."""

    archs: tuple = setting((), "Arch name(s), e.g. resnext50_32x4d (see `resnext-bench list`).",
                           kind="str_list", check=_check_arch, flag="--arch")
    runtimes: tuple = setting(("all",), "Runtime(s), or 'all': in `bench` every runtime usable "
                              "here, in a sweep every runtime (unusable ones become skipped rows).",
                              kind="str_list", choices=RUNTIME_NAMES + ("all",), flag="--runtime")
    batches: tuple = setting((1,), "Batch size(s).", kind="int_list", min=1, max=65536,
                             flag="--batch")
    precisions: tuple = setting(("fp32",), "Precision(s).", kind="str_list", choices=PRECISIONS,
                                flag="--precision")
    forms: tuple = setting(("c",), "Block form(s): a summed branches, b concatenated branches, "
                           "c grouped conv.", kind="str_list", choices=FORMS, flag="--form")
    threads: tuple = setting((), "CPU threads per run (several: one row each); default: the "
                             "runtime's own choice.", kind="int_list", min=1, max=1024)
    image_sizes: tuple = setting((), "Input size(s); default: the arch's own (224 ImageNet, 32 "
                                 "CIFAR).", kind="int_list", min=1, max=4096, flag="--image-size")
    device: str = setting("auto", "Device of the torch runtime (GPU runtimes always use cuda).",
                          kind="str", choices=DEVICES)

    def _check_relations(self) -> None:
        if not self.archs:
            raise ConfigError("archs", "", "at least one arch is required")
        for a in self.archs:  # every arch must take every image size
            for size in self.image_sizes or (None,):
                try:
                    parse_arch(a).resolve_image_size(size)
                except UsageError as exc:
                    raise ConfigError("image_sizes", size, str(exc)) from None


def parse_cpu_list(text: str) -> tuple[int, ...]:
    """``"0-3,6"`` -> (0, 1, 2, 3, 6) (taskset's and cgroups' list form); ValueError if not one."""
    cpus: list[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        a, b = int(lo), int(hi) if hi else int(lo)
        if a < 0 or b < a:
            raise ValueError(part)
        cpus.extend(range(a, b + 1))
    if not cpus:
        raise ValueError(text)
    return tuple(dict.fromkeys(cpus))


def _check_cpus(text: str) -> None:
    import os

    try:
        cpus = parse_cpu_list(text)
    except ValueError:
        raise UsageError("must be a CPU list such as 0-3 or 0,2 (as taskset takes)") from None
    if hasattr(os, "sched_getaffinity"):
        allowed = os.sched_getaffinity(0)
        outside = [c for c in cpus if c not in allowed]
        if outside:
            raise UsageError(f"CPU(s) {','.join(map(str, outside))} are not among the "
                             f"{len(allowed)} this process may use ({','.join(map(str, sorted(allowed)))})")
    else:
        raise UsageError("pinning needs os.sched_setaffinity (Linux)")


@dataclass(frozen=True)
class TimingConfig(Section):
    """Warm-up, timed iterations and interleaved rounds.

    The configurations of a group (one arch and image size, at most ``group_size`` of them,
    each in its own worker process) are measured in ``rounds`` rounds, round-robin, the order
    rotated each round, so the slow drift of a shared machine hits them alike. ``iters`` and
    ``min_time`` are totals per configuration, split evenly over the rounds; ``duration``
    replaces both with a time budget (trtexec's ``--duration``).

    ``processes``: interleaving cancels drift, not a bias that sticks to one worker process
    (where the scheduler put its threads beside ORT's pinned pool thread, its memory layout).
    Measured here with the earlier worker, ``ab`` of one file against itself with one process
    per side came out 0.90x, 0.95x and 1.44x in 3 of 13 jobs, every round alike. With several
    processes per configuration such a bias becomes round-to-round spread, which the verdicts
    see (``benchmarks/ab_same_file.py`` counts false verdicts per setting)."""

    warmup: int = setting(10, "Warm-up calls (once, after load).", kind="int", min=0,
                          max=MAX_CALLS)
    warmup_time: float = setting(0.0, "Minimum warm-up seconds.", kind="float", min=0.0,
                                 max=MAX_SECONDS)
    iters: int = setting(50, "Timed calls per configuration, at least (over all rounds).",
                         kind="int", min=1, max=MAX_CALLS)
    min_time: float = setting(0.0, "Minimum timed seconds per configuration (over all rounds).",
                              kind="float", min=0.0, max=MAX_SECONDS)
    rounds: int = setting(5, "Interleaved rounds: each configuration is timed in this many "
                          "blocks, round-robin with the others of its group.", kind="int",
                          min=1, max=1000)
    duration: float | None = setting(None, "Timed seconds per configuration over all rounds, "
                                     "instead of --iters / --min-time.", kind="float", min=0.001,
                                     max=MAX_SECONDS)
    group_size: int = setting(8, "Most configurations interleaved at once (each keeps its "
                              "model loaded in its own worker process).", kind="int", min=1,
                              max=64)
    control: bool = setting(True, "Time the control workload (a fixed mini ResNeXt, the same "
                            "on every machine, at the rows' thread count) as one more member "
                            "of each round, from 3 rounds on, so "
                            "`compare` can tell the machine's drift between runs from a change "
                            "(--no-control skips it).", kind="bool", flag="--control/--no-control")
    cpus: str | None = setting(None, "Pin the measuring worker processes to these CPUs "
                               "(os.sched_setaffinity; a list such as 0-3 or 0,2), recorded in "
                               "each row and the environment. Default: unpinned.", kind="str",
                               check=_check_cpus)
    processes: int = setting(1, "Worker processes per configuration, taking its rounds in "
                             "turn (pyperf's and asv's answer to a bias that sticks to one "
                             "process; at most --rounds). ab: one per round unless given.",
                             kind="int", min=1, max=1000)

    def _check_relations(self) -> None:
        if self.processes > self.rounds:
            raise ConfigError("processes", self.processes,
                              f"must be <= rounds ({self.rounds}): a process times whole rounds")


@dataclass(frozen=True)
class ServeConfig(Section):
    """Serving under concurrent requests (``bench/loadgen.py``): instead of one caller timing
    calls back to back, clients send single requests of ``--batch`` images to the loaded
    runtime, and each request's latency runs from its sending (closed loop) or its arrival
    (open loop) to its answer, queueing included. Each value of a comma list is a row."""

    concurrency: int | None = setting(
        None, "Closed loop: N clients, each sending a request and waiting for its answer before "
        "the next (perf_analyzer's --concurrency-range); a comma list sweeps, one row each. "
        "Default: no load, one caller on the timed path.", kind="int", min=1, max=256)
    request_rate: float | None = setting(
        None, "Open loop: requests arrive at this many per second (Poisson arrivals, "
        "perf_analyzer's --request-rate-range) and queue for the serving slots; a comma list "
        "sweeps, one row each.", kind="float", min=0.01, max=1e6)
    serve_slots: int | None = setting(
        None, "Requests served at once (OpenVINO infer requests, concurrent ONNX Runtime / torch "
        "calls on one loaded model). Default: the concurrency (closed loop); OpenVINO's optimal "
        "number of infer requests, else 1 (open loop).", kind="int", min=1, max=256)

    def _check_relations(self) -> None:
        if self.concurrency is not None and self.request_rate is not None:
            raise ConfigError("request_rate", self.request_rate,
                              "one load at a time: a closed loop (--concurrency) or an open "
                              "loop (--request-rate), not both in one run")
        if self.serve_slots is not None and self.concurrency is None and self.request_rate is None:
            raise ConfigError("serve_slots", self.serve_slots,
                              "serves a load: give --concurrency or --request-rate")


@dataclass(frozen=True)
class ParityConfig(Section):
    """Numerical parity against PyTorch fp32 eager on the same weights."""

    parity: bool = setting(True, "Check parity (--no-parity skips it).", kind="bool",
                           flag="--parity/--no-parity")
    parity_images: int | None = setting(None, "Parity inputs: seeded synthetic ones (default "
                                        "32), or the first N of --images (default: all of "
                                        "them, up to 4096).", kind="int", min=1, max=4096)
    images: str | None = setting(None, "Folder of real images for parity (ImageNet "
                                 "preprocessing) instead of synthetic inputs; class subfolders "
                                 "(ImageFolder) add accuracy; 'builtin': the 16 public-domain "
                                 "photos shipped with the tool; 'digits': scikit-learn's "
                                 "labeled digits (held-out split).", kind="path",
                                 check=_check_image_dir)
    rtol: float | None = setting(None, "Max |err| / max |ref| (default per precision).",
                                 kind="float", min=0.0, max=1e6)
    min_cosine: float | None = setting(None, "Minimum mean cosine (default per precision).",
                                       kind="float", min=-1.0, max=1.0)
    min_top1: float | None = setting(None, "Minimum top-1 agreement (default per precision).",
                                     kind="float", min=0.0, max=1.0)
    max_accuracy_drop_pct: float | None = setting(
        None, "Largest top-1 accuracy drop on labeled --images, in % of the fp32 accuracy "
        "(default: 1 for bf16, fp16 and int8 -- MLPerf's 99 % rule; fp32 must match anyway).",
        kind="float", min=0.0, max=100.0)
    layers: bool | None = setting(
        None, "Layer-wise parity: every residual branch, block and stage output compared with "
        "the fp32 reference at its own scale, a verdict per layer (default: on for bf16, fp16, "
        "int8 and --onnx files; --layers adds fp32 and torch-compile, --no-layers turns it off).",
        kind="bool", flag="--layers/--no-layers")


@dataclass(frozen=True)
class ExportOptions(Section):
    """How ONNX files are made (or which file is benched), and where artifacts are cached."""

    seed: int = setting(0, "Seed of the default calibrated weights.", kind="int", min=0,
                        max=2**32 - 1)
    weights: str | None = setting(None, "Checkpoint file (torchvision key names), or 'digits': "
                                  "the trained reference (a CIFAR-family net trained on "
                                  "scikit-learn's digits, cached); default: calibrated seeded "
                                  "weights.", kind="path", check=_check_weights)
    opset: int = setting(18, "ONNX opset.", kind="int", min=7, max=23)
    exporter: str = setting("dynamo", "torch ONNX exporter.", kind="str", choices=EXPORTERS)
    artifacts: str = setting("artifacts", "Export / engine / weights cache dir.", kind="path")
    onnx: str | None = setting(None, "Bench this ONNX file instead of exporting; its "
                               "resnext-bench metadata fills arch, form, precision, seed and "
                               "image size unless given.", kind="path", check=_check_file)


@dataclass(frozen=True)
class QuantOptions(Section):
    """int8: a QDQ file (per-channel int8 weights) of the fp32 export, made by a quantizer:
    NNCF (default) or ONNX Runtime's ``quantize_static``, on the same calibration data."""

    quantizer: str = setting("nncf", "int8 quantizer: nncf (nncf.quantize, ONNX backend: symmetric "
                             "int8 activations, fast bias correction; accuracy control by "
                             "nncf.quantize_with_accuracy_control) or ort (onnxruntime's "
                             "quantize_static, QDQ; reduce_range where this CPU has no VNNI).",
                             kind="str", choices=QUANTIZERS)

    calib_images: str | None = setting(None, "Images to calibrate int8 on: a folder (ImageNet "
                                       "preprocessing), 'builtin', 'digits-train', or 'synthetic' "
                                       "(seeded noise, only when asked); default: the parity "
                                       "images (--images), else the built-in photos -- as seeded "
                                       "random crops, disjoint from the centre crops parity uses.",
                                       kind="path", check=_check_calib_images)
    calib_crops: str = setting("auto", "Calibrate on seeded random crops (40-100 % of the side, "
                               "mirrored half the time) instead of centre crops: auto = when "
                               "the calibration images are the parity images or the default.",
                               kind="str", choices=("auto", "on", "off"))
    int8_target: str | None = setting(None, "int8 accuracy control: 'drop:X' (top-1 accuracy drop "
                                      "of at most X points on a labeled calibration folder), "
                                      "'drop:X%' (X % of the fp32 accuracy, relative), 'tolerance' "
                                      "(the int8 parity tolerance) or 'cosine:0.995,top1:0.95'. "
                                      "When plain int8 misses it on a held-out control set, the "
                                      "layers that hurt most stay in float, as few as the target "
                                      "allows: nncf.quantize_with_accuracy_control for the nncf "
                                      "quantizer, an SQNR-ranked bisection for ort.",
                                      kind="str", check=_check_int8_target)
    int8_max_float: float = setting(1.0, "With --int8-target: the largest share of the quantized "
                                    "nodes that may stay in float (beyond it int8 stops paying); "
                                    "a target that needs more is an error naming the best reached.",
                                    kind="float", min=0.0, max=1.0)
    calib_method: str = setting("minmax", "int8 calibration method.", kind="str",
                                choices=CALIB_METHODS)
    calib_count: int = setting(32, "Calibration images.", kind="int", min=1, max=4096)
    quant_activations: str = setting("auto", "int8 activation type: uint8 (asymmetric, ONNX Runtime's "
                                     "fast path on x86 CPUs), int8 (symmetric, what TensorRT and the "
                                     "CUDA provider need); auto picks by runtime.", kind="str",
                                     choices=QUANT_ACTIVATIONS)


@dataclass(frozen=True)
class TorchOptions(Section):
    """Eager PyTorch and torch.compile."""

    channels_last: bool = setting(False, "torch: channels_last memory format.", kind="bool")
    compile_mode: str = setting("default", "torch-compile: torch.compile mode (inductor).",
                                kind="str", choices=COMPILE_MODES)


@dataclass(frozen=True)
class CudaOptions(Section):
    """Settings shared by the runtimes that run on a CUDA device."""

    cuda_graph: bool = setting(False, "tensorrt / torch cuda: capture and replay a CUDA graph.",
                               kind="bool")


@dataclass(frozen=True)
class OrtOptions(Section):
    """ONNX Runtime sessions (ort-cpu, ort-cuda, ort-trt)."""

    graph_opt_level: str = setting("all", "ONNX Runtime graph optimization level.", kind="str",
                                   choices=GRAPH_OPT_LEVELS)
    cudnn_algo: str = setting("EXHAUSTIVE", "ort-cuda / ort-trt cuDNN conv algorithm search.",
                              kind="str", choices=CUDNN_ALGOS)


@dataclass(frozen=True)
class TensorRTOptions(Section):
    """TensorRT builds (native tensorrt and the ORT TensorRT provider)."""

    workspace_mb: int = setting(4096, "TensorRT workspace (MiB).", kind="int", min=1,
                                max=1 << 20)
    builder_opt_level: int = setting(3, "TensorRT builder optimization level.", kind="int",
                                     min=0, max=5)
    profile_max_batch: int | None = setting(
        None, "Largest batch of the TensorRT optimization profile (tensorrt, ort-trt; default: "
        "the largest --batch of the run's configuration, so a shard, a resume or an ab side "
        "builds the profile the whole plan would).", kind="int", min=1, max=65536)


@dataclass(frozen=True)
class OpenVinoOptions(Section):
    """OpenVINO, native (``openvino``) and as ONNX Runtime's execution provider
    (``ort-openvino``, where these go into the provider's ``load_config``). The inference
    precision is never left to the plugin: it follows the row's precision (f32 for fp32 and
    for the float parts of int8), and the row records what the compiled model reports."""

    ov_hint: str = setting("latency", "OpenVINO PERFORMANCE_HINT (none: only the explicit "
                           "threads / streams apply, as benchmark_app's -hint none).", kind="str",
                           choices=OV_HINTS)
    ov_streams: int | None = setting(None, "OpenVINO NUM_STREAMS (default: the hint's choice).",
                                     kind="int", min=1, max=256)
    ov_requests: int = setting(1, "OpenVINO infer requests in flight per timed call (>1: an "
                               "AsyncInferQueue; latency is then per call of that many "
                               "requests, throughput counts them all).", kind="int", min=1,
                               max=256)
    ov_cache: bool = setting(False, "OpenVINO model cache (CACHE_DIR under the artifacts dir): "
                             "faster loads, same compiled model.", kind="bool")


#: the sections every run has (fields of :class:`RunConfig`)
BASE_SECTIONS: dict[str, type[Section]] = {
    "plan": PlanConfig, "timing": TimingConfig, "serve": ServeConfig, "parity": ParityConfig,
    "export": ExportOptions, "quant": QuantOptions,
}
#: the runtimes' option sections by the name a :class:`RuntimeSpec` gives in ``sections`` (a new
#: runtime with options of its own adds its section here)
RUNTIME_OPTION_SECTIONS: dict[str, type[Section]] = {
    "torch": TorchOptions, "cuda": CudaOptions, "ort": OrtOptions, "tensorrt": TensorRTOptions,
    "openvino": OpenVinoOptions, **_PLUGIN_SECTIONS,
}
SECTIONS: dict[str, type[Section]] = {**BASE_SECTIONS, **{
    name: RUNTIME_OPTION_SECTIONS[name] for name in RUNTIME_SECTIONS}}
assert set(RUNTIME_OPTION_SECTIONS) == set(RUNTIME_SECTIONS), \
    "an options section no runtime spec reads, or a spec naming a section not declared"
#: setting name -> (section name, dataclass field); names are unique across sections
_OWNER: dict[str, str] = {}
_FIELDS: dict[str, Any] = {}
for _sec, _cls in SECTIONS.items():
    for _f in fields(_cls):
        assert _f.name not in _OWNER, f"setting {_f.name} declared twice"
        _OWNER[_f.name], _FIELDS[_f.name] = _sec, _f


def _coerce(name: str, raw, typed: bool = False):
    """A value from the CLI (strings, comma lists) or TOML (typed) -> the setting's type."""
    return coerce_field(_FIELDS[name], raw, typed)


def coerce_field(f, raw, typed: bool = False):
    """A value for a field declared with :func:`setting` (a run setting, or an option of a
    typed command such as ``tune``) -> the field's kind; :class:`ConfigError` when it is not."""
    name, kind = f.name, f.metadata["kind"]
    if raw is None:
        return None
    if kind.endswith("_list"):
        if isinstance(raw, str):
            items = [v.strip() for v in raw.split(",") if v.strip()]
        elif isinstance(raw, (list, tuple)):
            items = list(raw)
        else:
            items = [raw]
        if not items:
            raise ConfigError(name, raw, "needs at least one value")
        return tuple(_scalar(name, kind[:-5], v, typed) for v in items)
    return _scalar(name, kind, raw, typed)


def check_field(f, value) -> None:
    """A declared field's own checks (choices, bounds, its check function)."""
    _check_value(f.name, f.metadata, value)


def _scalar(name: str, kind: str, v, typed: bool = False):
    """One value as the setting's kind; ``typed``: the source has types (TOML), so a string
    where a number belongs is an error there (``iters = "3"``), not a number to parse."""
    if kind == "bool":
        if isinstance(v, bool):
            return v
        raise ConfigError(name, v, "must be true or false")
    if kind in ("str", "path"):
        if isinstance(v, (str, int, float)) and not isinstance(v, bool):
            return str(v)
        raise ConfigError(name, v, "must be a string")
    want = "an integer" if kind == "int" else "a number"
    if isinstance(v, str) and typed:
        raise ConfigError(name, v, f"must be {want}, not a string")  # TOML: iters = "3"
    try:
        if isinstance(v, bool):
            raise ValueError
        if kind == "int":
            if isinstance(v, float) and not v.is_integer():
                raise ValueError
            return int(v) if not isinstance(v, str) else int(v.strip())
        out = float(v)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(name, v, f"must be {want}") from None
    if not math.isfinite(out):
        raise ConfigError(name, v, "must be a finite number (not NaN or infinity)")
    return out


def build_section(name: str, values: Mapping[str, Any], source: Source = CLI):
    """One section (e.g. ``quant`` for `export` / `quantize`) from its settings' values, checked
    like a whole run configuration; values that are None take the defaults."""
    try:
        return SECTIONS[name](**{k: _coerce(k, v) for k, v in values.items() if v is not None})
    except ConfigError as exc:
        raise exc.render(source) from None


def check_setting(name: str, value, source: Source = CLI):
    """Coerce and check one setting's value with that setting's own check (for commands such
    as ``export`` that take a single value of a list setting); returns the coerced value."""
    try:
        coerced = _coerce(name, value)
        _check_value(name, _FIELDS[name].metadata, coerced)
        return coerced
    except ConfigError as exc:
        raise exc.render(source) from None


#: environment defaults for CI jobs that need neither (an explicit flag or TOML key wins):
#: ``RESNEXT_BENCH_LAYERS=off`` turns the automatic layer-wise parity off,
#: ``RESNEXT_BENCH_CONTROL=off`` the control workload
ENV_OFF = {"layers": "RESNEXT_BENCH_LAYERS", "control": "RESNEXT_BENCH_CONTROL"}


def env_off(name: str) -> bool:
    """Whether the environment turns the default of setting ``name`` off (:data:`ENV_OFF`)."""
    import os

    return os.environ.get(ENV_OFF[name], "").strip().lower() in ("off", "0", "false", "no")


def applicable_settings(runtime: str, precision: str, device: str) -> tuple[str, ...]:
    """The settings that change what a (runtime, precision, device) row measures."""
    names = [n for n in RUNTIME_SETTINGS.get(runtime, ())
             if device == "cuda" or n not in CUDA_ONLY_SETTINGS]
    if precision == "int8":
        names += INT8_SETTINGS
    return tuple(names)


def section_of(name: str) -> str | None:
    """The section a setting is declared in (None: not a setting)."""
    return _OWNER.get(name)


def default_of(name: str):
    return _FIELDS[name].default


def _multi_values(name: str, raw, typed: bool = False) -> tuple | None:
    """Several values of a sweepable setting (a TOML list, or a CLI comma list), or None."""
    if name not in SWEEPABLE:
        return None
    if isinstance(raw, (list, tuple)):
        items = list(raw)
    elif isinstance(raw, str) and "," in raw and name not in _NO_SPLIT:
        items = [v.strip() for v in raw.split(",") if v.strip()]
    else:
        return None
    if not items:
        raise ConfigError(name, raw, "needs at least one value")
    meta = _FIELDS[name].metadata
    values = tuple(dict.fromkeys(_scalar(name, meta["kind"], v, typed) for v in items))
    for v in values:
        _check_value(name, meta, v)
    return values


def _check_serving(built: Mapping[str, Any], axes: Mapping[str, tuple]) -> None:
    """Rules across sections for rows under load: OpenVINO's ``ov_requests`` (requests per
    timed call of one caller) means nothing there -- the slots serve the requests."""
    loaded = any(axes.get(n) or getattr(built["serve"], n) is not None
                 for n in ("concurrency", "request_rate"))
    requests = axes.get("ov_requests") or (built["openvino"].ov_requests,)
    if loaded and max(requests) > 1:
        raise ConfigError("ov_requests", max(requests), "is one caller's requests per call; under "
                          "--concurrency / --request-rate the serving slots (--serve-slots) are "
                          "the infer requests")


@dataclass(frozen=True)
class RunConfig:
    """The whole configuration of a ``bench`` / ``parity`` / ``sweep`` run.

    ``axes``: sweepable settings given several values (``graph_opt_level = ["all",
    "disable"]``); the sections hold the first, and the plan makes one row per value for the
    runtimes that read the setting. ``given``: the settings the user set (not defaulted), for
    the check that every option given applies to something."""

    plan: PlanConfig
    timing: TimingConfig = field(default_factory=TimingConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    parity: ParityConfig = field(default_factory=ParityConfig)
    export: ExportOptions = field(default_factory=ExportOptions)
    quant: QuantOptions = field(default_factory=QuantOptions)
    #: the runtimes' option sections, ((name, section), ...) in :data:`RUNTIME_SECTIONS` order,
    #: read as attributes (``config.ort``, ``config.openvino``); a section not given: defaults
    runtime_options: tuple = ()
    axes: tuple = ()  # ((name, (value, ...)), ...)
    given: frozenset = frozenset()

    def __getattr__(self, name):
        if name in RUNTIME_OPTION_SECTIONS:
            given = dict(self.__dict__.get("runtime_options", ()))
            return given.get(name) or RUNTIME_OPTION_SECTIONS[name]()
        raise AttributeError(name)

    @classmethod
    def from_values(cls, values: Mapping[str, Any], source: Source = CLI) -> "RunConfig":
        """Build and check a config from flat setting values (missing ones take defaults).

        Every problem is a one-line :class:`UsageError` naming the key as ``source`` spells it.
        """
        unknown = sorted(set(values) - set(_OWNER) - set(INFO_KEYS))
        if unknown:
            raise UsageError(f"{source.where}unknown key(s) {', '.join(unknown)} (known: "
                             f"{', '.join(sorted(_OWNER))}; see `resnext-bench sweep --help-config`)")
        by_section: dict[str, dict] = {name: {} for name in SECTIONS}
        axes = []
        typed = source.kind == "toml"
        try:
            for name, raw in values.items():
                if name in INFO_KEYS or raw is None:
                    continue
                several = _multi_values(name, raw, typed)
                if several is not None:
                    if len(several) > 1:
                        axes.append((name, several))
                    raw = several[0]
                by_section[_OWNER[name]][name] = _coerce(name, raw, typed)
            given = frozenset(n for n, v in values.items() if v is not None and n in _OWNER)
            built = {sec: SECTIONS[sec](**vals) for sec, vals in by_section.items()}
            _check_serving(built, dict(axes))
            return cls(**{sec: built[sec] for sec in BASE_SECTIONS},
                       runtime_options=tuple((sec, built[sec]) for sec in RUNTIME_SECTIONS),
                       axes=tuple(axes), given=given)
        except ConfigError as exc:
            raise exc.render(source) from None

    def value(self, name: str):
        """One setting's value (the first, for an axis)."""
        return getattr(getattr(self, _OWNER[name]), name)

    def replace(self, **values) -> "RunConfig":
        """A copy with some settings changed (flat names, one value each; a setting that was
        an axis is now that value): only the changed settings are checked again."""
        new = self._with(values)
        return dataclasses.replace(new, given=self.given | frozenset(values),
                                   axes=tuple((n, v) for n, v in self.axes if n not in values))

    def pinned(self, settings: Mapping[str, Any]) -> "RunConfig":
        """The configuration one row runs: every axis fixed to the row's value (``settings``
        holds the row's non-default ones; an axis it does not name runs its default). The
        sections are copied with those values, not rebuilt: nothing else is checked again."""
        if not self.axes and not settings:
            return self
        values = {name: settings.get(name, default_of(name)) for name, _values in self.axes}
        values.update(settings)
        return dataclasses.replace(self._with(values), axes=())

    def _with(self, values: Mapping[str, Any]) -> "RunConfig":
        unknown = sorted(set(values) - set(_OWNER))
        if unknown:
            raise UsageError(f"unknown setting(s) {', '.join(unknown)}")
        by_section: dict[str, dict] = {}
        try:
            for name, raw in values.items():
                by_section.setdefault(_OWNER[name], {})[name] = _coerce(name, raw)
            changed = {sec: getattr(self, sec).with_values(**vals) for sec, vals in by_section.items()}
        except ConfigError as exc:
            raise exc.render(CLI) from None
        options = tuple((sec, changed.get(sec, getattr(self, sec))) for sec in RUNTIME_SECTIONS)
        return dataclasses.replace(self, **{s: v for s, v in changed.items() if s in BASE_SECTIONS},
                                   runtime_options=options)

    def settings_for(self, runtime: str, precision: str, device: str) -> list[dict]:
        """The non-default settings of each row this config makes for (runtime, precision,
        device): one dict per combination of the axes that runtime reads."""
        names = applicable_settings(runtime, precision, device)
        axes = [(n, vals) for n, vals in self.axes if n in names]
        base = {n: self.value(n) for n in names}
        out: list[dict] = []
        for combo in itertools.product(*(vals for _n, vals in axes)):
            values = dict(base)
            values.update({n: v for (n, _vals), v in zip(axes, combo)})
            settings = {n: v for n, v in values.items() if v != default_of(n)}
            if settings not in out:
                out.append(settings)
        return out

    def to_values(self) -> dict:
        """Flat ``{setting: value}`` of every setting (what a sweep TOML would say); an axis
        is its list of values."""
        out = {f.name: getattr(getattr(self, sec), f.name)
               for sec, cls in SECTIONS.items() for f in fields(cls)}
        out.update({name: list(values) for name, values in self.axes})
        return out


def describe_settings() -> list[dict]:
    """Every setting with its section, TOML key, CLI flag, kind, default, allowed values, help."""
    out = []
    for sec, cls in SECTIONS.items():
        for f in fields(cls):
            m = f.metadata
            allowed = (", ".join(map(str, m["choices"])) if m["choices"] else
                       " ".join(p for p in (f">= {m['min']}" if m["min"] is not None else "",
                                            f"<= {m['max']}" if m["max"] is not None else "") if p))
            out.append({"section": sec, "key": f.name, "flag": cli_flag(f.name),
                        "kind": m["kind"], "default": f.default, "allowed": allowed,
                        "help": m["help"]})
    return out


def render_settings_help() -> str:
    """The text of ``sweep --help-config``."""
    lines = ["Sweep TOML keys (flat; a list key also takes a single value). The same settings are",
             "`bench` / `parity` options: the flag is shown beside each key.", ""]
    current = None
    for s in describe_settings():
        if s["section"] != current:
            current = s["section"]
            lines.append(f"[{current}]")
        default = s["default"]
        default = ("[" + ", ".join(map(repr, default)) + "]") if isinstance(default, tuple) else repr(default)
        allowed = f"; allowed: {s['allowed']}" if s["allowed"] else ""
        lines.append(f"  {s['key']} ({s['kind']}, default {default}{allowed})  {s['flag']}")
        lines.append(f"      {s['help']}")
    lines += ["", f"Also accepted and recorded, configuring nothing: {', '.join(INFO_KEYS)}."]
    return "\n".join(lines)
