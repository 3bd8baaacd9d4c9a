"""The configurations worth measuring on this machine, each with the reason it is in or out.

Read from the machine, never assumed: the runtimes usable here (``check_available``), the
precisions the ISA makes pay (:func:`resnext_bench.core.isa.precisions_worth_trying`: bf16 with
AMX or AVX-512 BF16, int8 wherever ORT or OpenVINO have int8 kernels: AVX2 and up, NEON, a GPU; fp16 on GPUs) and that each runtime runs,
thread counts up to the CPUs this process may use (the cgroup CPU quota and the affinity mask,
not the host's count), batch sizes for the throughput objective, and per runtime the options
that change its speed (:func:`option_axes`). The default configuration (ORT CPU fp32, batch 1,
the runtime's default threads and settings) is always a candidate: the answer is stated against
it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..bench.env import cpu_quota
from ..bench.plan import why_not
from ..config import GPU_RUNTIMES, RUNTIME_NAMES, RUNTIME_SPECS, runtime_device, runtime_spec
from ..core.isa import precisions_worth_trying
from ..core.schema import Combo
from ..models.spec import parse_arch


def option_axes(runtime: str) -> list[tuple[dict, str]]:
    """The options a search tries for ``runtime`` besides the defaults, with why (the runtime
    class's own ``search_options``)."""
    from ..runtimes.registry import get_runtime_class

    return list(get_runtime_class(runtime).search_options)


#: runtimes whose every candidate costs a long load: tried at all usable CPUs only (their specs' ``expensive_load``)
EXPENSIVE_LOADS = {spec.name: spec.expensive_load for spec in RUNTIME_SPECS if spec.expensive_load}
#: batch sizes the throughput objective tries with ``--batch auto``
AUTO_BATCHES = (1, 4, 16)
#: what the answer is compared with: the tool's own default configuration
DEFAULT_RUNTIME, DEFAULT_PRECISION = "ort-cpu", "fp32"


def thread_counts(quota: int) -> list[int]:
    """1, 2, 4, ... up to the quota, and the quota itself."""
    out, t = [], 1
    while t < quota:
        out.append(t)
        t *= 2
    return out + [quota]


@dataclass
class Candidate:
    combo: Combo
    why: str  # what it tries
    baseline: bool = False


@dataclass
class CandidateSet:
    candidates: list[Candidate]
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (what, why not)
    precisions: dict[str, str] = field(default_factory=dict)  # worth trying here, with reasons
    cpus: int = 1

    @property
    def baseline(self) -> Candidate:
        return next(c for c in self.candidates if c.baseline)

    def to_json(self) -> dict:
        """What ``tune --dry-run --json`` prints: each candidate with why, each exclusion."""
        return {"candidates": [{"config_key": c.combo.key, "why": c.why, "baseline": c.baseline}
                               for c in self.candidates],
                "excluded": [{"what": w, "why": why} for w, why in self.excluded],
                "precisions_worth_trying": self.precisions, "cpus": self.cpus}


def candidates(arch: str, *, objective: str = "latency", batch: int | str | None = None,
               available=None, runtime_class=None, flags: list[str] | None = None,
               cuda: bool | None = None, cpus: int | None = None,
               runtimes: list[str] | None = None, image_size: int | None = None,
               precisions: list[str] | None = None, concurrency: int | None = None) -> CandidateSet:
    """Every configuration worth trying for ``arch`` here. The keyword arguments after
    ``batch`` replace what is read from the machine (tests pass fake runtimes and an ISA).
    ``concurrency``: every candidate serves that many clients sending single requests of one
    image (``--concurrency``; runtimes that do not serve concurrent requests are out); the
    throughput objective then tries OpenVINO's two hints, as benchmark_app's ``-hint``."""
    from ..runtimes.registry import check_available, get_runtime_class

    available = available or check_available
    runtime_class = runtime_class or get_runtime_class
    if flags is None:
        from ..bench.env import cpu_flags

        flags = cpu_flags()
    if cuda is None:
        from ..runtimes.cuda_probe import cuda_status

        cuda = cuda_status()[0]
    cpus = cpus or cpu_quota()
    spec = parse_arch(arch)
    size = spec.resolve_image_size(image_size)
    worth = precisions_worth_trying(flags, cuda=cuda)
    not_here = [p for p in precisions or () if p not in worth]
    if precisions:  # --precision: only these are searched (the default is still measured)
        worth = {p: why for p, why in worth.items() if p in precisions}
    if concurrency is not None:  # a request is one image; the clients make the batch
        batches = [1]
    elif objective == "throughput" and batch in (None, "auto"):
        batches = list(AUTO_BATCHES)
    else:
        batches = [1 if batch in (None, "auto") else int(batch)]
    out = CandidateSet([], precisions=worth, cpus=cpus)
    out.excluded += [(f"precision {p}", "asked for with --precision, but no runtime here has a "
                      "fast path for it on this ISA") for p in not_here]
    for p in ("fp16", "bf16", "int8"):
        if p not in worth and not precisions:
            out.excluded.append((f"precision {p}", "this machine has no fast path for it "
                                 f"(ISA: {', '.join(f for f in flags if f.startswith(('avx', 'amx'))) or 'none recorded'})"))
    for name in runtimes or RUNTIME_NAMES:
        ok, reason = available(name)
        if not ok:
            out.excluded.append((name, f"unavailable: {reason}"))
            continue
        if concurrency is not None and not runtime_spec(name).serves:
            out.excluded.append((name, "does not serve concurrent requests in this tool "
                                       "(no serving slots)"))
            continue
        device = runtime_device(name, "cuda" if cuda else "cpu")
        for precision in worth:
            # the one "can it run here" rule bench and sweep apply (bench.plan.why_not)
            problem = why_not(Combo(arch, "c", name, device, precision, 1, None, image_size or 224),
                              available=available, runtime_class=runtime_class)
            if problem:
                out.excluded.append((f"{name} {precision}", problem))
                continue
            threads = thread_counts(cpus) if device == "cpu" else [None]
            if name in EXPENSIVE_LOADS and len(threads) > 1:
                out.excluded.append((f"{name} {precision} threads {','.join(map(str, threads[:-1]))}",
                                     EXPENSIVE_LOADS[name]))
                threads = threads[-1:]
            options = [({}, "defaults")] + option_axes(name)
            if name == "openvino" and objective == "throughput":
                options = [({"ov_hint": "throughput"}, "THROUGHPUT hint")]
                if concurrency is not None:  # under a p99 limit one stream may be the answer
                    options.append(({}, "LATENCY hint (the default)"))
            if concurrency is not None:
                options = [(dict(o, concurrency=concurrency), f"{why}; {concurrency} client(s)")
                           for o, why in options]
            if precision == "int8" and name not in GPU_RUNTIMES:
                options = quantizer_axis(options, out)
            for b in batches:
                for t in threads:
                    for settings, why in options:
                        combo = Combo(spec.name, "c", name, device, precision, b, t, size,
                                      dict(settings))
                        out.candidates.append(Candidate(combo, f"{precision} ({worth[precision]}); {why}"))
    if not available(DEFAULT_RUNTIME)[0]:
        return out  # no ORT CPU here: the answer is stated without a default to beat
    base = Combo(spec.name, "c", DEFAULT_RUNTIME, "cpu", DEFAULT_PRECISION, 1, None, size,
                 {"concurrency": concurrency} if concurrency is not None else {})
    out.candidates.insert(0, Candidate(base, "the default configuration (what the answer is "
                                             "compared with)", baseline=True))
    return out


def quantizer_axis(options: list[tuple[dict, str]], out: CandidateSet) -> list[tuple[dict, str]]:
    """The int8 options times the quantizers: the default one (NNCF) with every option, each
    other installed one with the first option (the runtime's defaults, or the objective's hint) -- the int8 file is the quantizer's, so
    each makes its own speed and parity (measured: ORT's U8S8 minmax file and NNCF's symmetric
    one differ in both). A quantizer not installed here is excluded, with why."""
    from ..config import QuantOptions
    from ..exporters.quantizers import QUANTIZERS

    default = QuantOptions.quantizer
    usable = {n: q for n, q in QUANTIZERS.items() if q.available()[0]}
    for n, q in QUANTIZERS.items():
        if n not in usable and (f"quantizer {n}", q.available()[1]) not in out.excluded:
            out.excluded.append((f"quantizer {n}", q.available()[1]))
    result = []
    if default in usable:
        result += [(s, f"{why}; int8 by {usable[default].library}") for s, why in options]
    first, why_first = options[0]  # the runtime's defaults (or the objective's hint)
    result += [(dict(first, quantizer=n), f"{why_first}; int8 by {q.library}")
               for n, q in usable.items() if n != default]
    return result


def render_candidates(cs: CandidateSet) -> str:
    lines = [f"{len(cs.candidates)} candidate(s) on {cs.cpus} usable CPU(s); precisions worth "
             "trying here: " + ", ".join(f"{p} ({why})" for p, why in cs.precisions.items())]
    for c in cs.candidates:
        lines.append(f"  in   {c.combo.key}  {c.why}")
    for what, why in cs.excluded:
        lines.append(f"  out  {what}: {why}")
    return "\n".join(lines)
