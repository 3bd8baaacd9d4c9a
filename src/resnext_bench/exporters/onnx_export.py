"""torch -> ONNX export with checks, metadata and a cache keyed by the export's config hash.

Every export is checked before it is published at its final path:

1. ``onnx.checker`` (full check, which includes strict shape inference);
2. complexity: MACs and Conv/Gemm weight counts of the graph equal the torch module's (an export
   that silently changed the network fails here);
3. ONNX Runtime (CPU) against PyTorch fp32 eager on seeded inputs at two batch sizes (1 and 3),
   which also proves that a "dynamic" batch axis really is dynamic.

The file carries metadata (arch, C, d, form, seed, exporter, versions, config hash). A second
export of the same config is a cache hit: the file's sha256 (recorded in its sidecar JSON at
build time), the ONNX checker and the metadata hash are verified, and a file failing any of them
is rebuilt. The ORT comparison is not repeated on a hit; its result is kept in the sidecar.

Forms a and b are not traced through the torch exporter (minutes for 512 branches): they are
built from the checked form-c file by :mod:`.forms` and then pass the same three checks, against
the form-c module.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import json
import logging
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import __version__
from ..config import EXPORT_PRECISIONS, ExportOptions, QuantOptions, check_setting
from ..core.complexity import onnx_complexity, torch_complexity
from ..core.errors import CheckFailed, UsageError
from ..core.fileio import atomic_path, ensure_cache_dir, file_digest, write_json_atomic
from ..core.parity import compare_logits, tolerance_for
from ..models.spec import ArchSpec, parse_arch
from .artifact import ExportResult
from .onnxfile import verify_cached

CHECK_BATCHES = (1, 3)
CHECK_SEED = 20240611
INPUT_NAME, OUTPUT_NAME = "input", "logits"


class ExportCheckError(CheckFailed):
    """An exported graph failed one of its checks (a bug or an unsupported config)."""


def torch_version() -> str:
    """torch's version without importing it where it is not loaded yet (a measuring worker
    finding its cached ONNX file need not pay torch's import)."""
    import sys

    if "torch" in sys.modules:
        return sys.modules["torch"].__version__
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        import torch

        return torch.__version__


@dataclass(frozen=True)
class ExportConfig:
    """Everything that determines the bytes of an exported file."""

    arch: str
    form: str = "c"
    opset: int = ExportOptions.opset
    batch: int | None = None  # None: dynamic batch axis
    precision: str = "fp32"
    image_size: int | None = None  # None: the arch's default (224 ImageNet, 32 CIFAR)
    seed: int = 0
    weights: str | None = None
    exporter: str = ExportOptions.exporter

    def validate(self) -> tuple[ArchSpec, int]:
        spec = parse_arch(self.arch)
        for name, value in (("forms", self.form), ("opset", self.opset),
                            ("exporter", self.exporter), ("seed", self.seed),
                            ("weights", self.weights)):
            check_setting(name, value)  # the run configuration's own checks
        if self.precision not in EXPORT_PRECISIONS:
            raise UsageError(f"--precision {self.precision!r}: export writes one of "
                             f"{', '.join(EXPORT_PRECISIONS)}")
        if self.batch is not None:
            check_setting("batches", self.batch)
        size = spec.resolve_image_size(self.image_size)
        return spec, size

    def key(self) -> dict:
        """The dict hashed into the cache key: config + weights identity + tool versions."""
        from ..models.weightsource import weights_identity

        spec, size = self.validate()
        d = asdict(self)
        d["arch"] = spec.name
        d["image_size"] = size
        d["weights"] = (weights_identity(self.weights, self.seed) if self.weights
                        else f"calibrated-v{weights_identity(None, self.seed)[3:]}-seed{self.seed}")
        d["torch"] = torch_version()
        d["resnext_bench"] = __version__
        if self.form != "c":
            from .forms import REWRITE_VERSION

            d["form_rewrite"] = REWRITE_VERSION
        return d

    def config_hash(self, key: dict | None = None) -> str:
        return hashlib.sha256(json.dumps(key or self.key(), sort_keys=True).encode()).hexdigest()


def artifact_name(cfg: ExportConfig, spec: ArchSpec, size: int, digest: str) -> str:
    batch = "dyn" if cfg.batch is None else f"b{cfg.batch}"
    return f"{spec.name}_{cfg.form}_{cfg.precision}_{batch}_{size}px_op{cfg.opset}_{cfg.exporter}_{digest[:12]}.onnx"


@contextlib.contextmanager
def _quiet():
    """The exporters print progress and warnings (e.g. 'torchvision is not installed'); keep the
    CLI's output to what this tool says."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo",
                                               "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            for lg, lv in zip(loggers, levels):
                lg.setLevel(lv)


def _export_inputs(model, cfg: ExportConfig, size: int):
    """(module, example input) for the exporter: the fp16 copy for fp16 exports; batch >= 2
    for the example, since torch.export specializes a size-1 axis to a constant."""
    import copy

    import torch

    from ..models.inputs import synthetic_images

    example = torch.from_numpy(synthetic_images(cfg.batch or 2, size, CHECK_SEED))
    if cfg.precision == "fp16":
        return copy.deepcopy(model).half(), example.half()
    return model, example


def _export_proto(model, example, cfg: ExportConfig):
    """Run the chosen exporter and return the ModelProto (weights embedded)."""
    import onnx
    import torch

    with _quiet():
        if cfg.exporter == "dynamo":
            dyn = None if cfg.batch is not None else {
                "x": {0: torch.export.Dim("batch", min=1, max=65536)}}
            program = torch.onnx.export(model, (example,), None, input_names=[INPUT_NAME],
                                        output_names=[OUTPUT_NAME], opset_version=cfg.opset,
                                        dynamo=True, external_data=False, dynamic_shapes=dyn,
                                        verbose=False)
            return program.model_proto
        buf = io.BytesIO()
        axes = None if cfg.batch is not None else {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
        torch.onnx.export(model, (example,), buf, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], opset_version=cfg.opset, dynamo=False,
                          dynamic_axes=axes, verbose=False)
        return onnx.load_from_string(buf.getvalue())


def _run_exporter(model, example, cfg: ExportConfig, spec: ArchSpec):
    try:
        proto = _export_proto(model, example, cfg)
    except Exception as exc:
        raise ExportCheckError(f"{cfg.exporter} export of {spec.name} failed: "
                               f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from exc
    return honour_opset(proto, cfg.opset, cfg.exporter)


def graph_opset(proto) -> int | None:
    """The default-domain (``ai.onnx``) opset a ModelProto imports."""
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)


def honour_opset(proto, opset: int, exporter: str):
    """The graph at the opset asked for. torch's dynamo exporter writes opset 18 or newer
    whatever ``opset_version`` says; onnx's version converter takes it down, and a graph it
    cannot convert is refused with one line (the torchscript exporter writes old opsets
    itself). The converted file goes through the same checks as any export (checker, MACs,
    ORT CPU against torch)."""
    have = graph_opset(proto)
    if have == opset:
        return proto
    import onnx
    from onnx import version_converter

    try:
        converted = version_converter.convert_version(proto, opset)
        onnx.checker.check_model(converted)
    except Exception as exc:
        raise UsageError(f"--opset {opset}: the {exporter} exporter wrote opset {have} and onnx's "
                         f"version converter cannot take it to {opset} ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:160] if str(exc) else ''}); use "
                         f"--exporter torchscript or --opset {have}") from None
    if graph_opset(converted) != opset:
        raise UsageError(f"--opset {opset}: the converted graph imports opset "
                         f"{graph_opset(converted)}; use --exporter torchscript")
    return converted


def check_against_torch(onnx_path: Path, model_fp32, cfg: ExportConfig, size: int) -> list[dict]:
    """Run the file on ORT CPU at :data:`CHECK_BATCHES` and compare with torch fp32 eager."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from ..models.inputs import synthetic_images

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    in_dtype = np.float16 if cfg.precision == "fp16" else np.float32
    results = []
    for batch in ([cfg.batch] if cfg.batch is not None else CHECK_BATCHES):
        x = synthetic_images(batch, size, CHECK_SEED + batch)
        with torch.no_grad():
            ref = model_fp32(torch.from_numpy(x)).numpy()
        out = session.run([OUTPUT_NAME], {INPUT_NAME: x.astype(in_dtype)})[0]
        if out.shape != ref.shape:
            raise ExportCheckError(f"ORT output shape {out.shape} != torch {ref.shape} at batch {batch}")
        par = compare_logits(ref, out, tolerance_for(cfg.precision))
        row = {"batch": batch, **{k.replace("parity_", ""): v for k, v in par.to_row().items()}}
        results.append(row)
        if not par.passed:
            raise ExportCheckError(
                f"ORT CPU output differs from PyTorch at batch {batch}: max_abs_err="
                f"{par.max_abs_err:.3g} max_rel_err={par.max_rel_err:.3g} cosine={par.cosine:.6f} "
                f"top1={par.top1_agreement:.2f}")
    return results


def export_onnx(cfg: ExportConfig, out_dir: str | Path = ExportOptions.artifacts, *,
                force: bool = False, quant: QuantOptions | None = None,
                cache_dir: str | Path | None = None) -> ExportResult:
    """Export ``cfg`` under ``out_dir`` (cache hit when an intact identical export exists).

    ``precision = "int8"``: the checked fp32 export, quantized (:mod:`.int8`, settings
    ``quant``: the quantizer, its calibration and accuracy target). Its parity is what `bench` / `parity` measure; it does not gate the export,
    since an int8 model differs from fp32 by design.

    ``cache_dir``: where the intermediate files go -- the form-c graph a form-a or form-b file
    is rewritten from, the fp32 file an int8 one is quantized from -- so that ``out_dir``
    holds the file asked for only (default: ``out_dir`` itself, the artifacts cache)."""
    spec, size = cfg.validate()
    between = cache_dir if cache_dir is not None else out_dir
    if cfg.precision == "int8":
        from dataclasses import replace

        from .int8 import make_int8

        fp32 = export_onnx(replace(cfg, precision="fp32"), between, force=force)
        q = make_int8(fp32.path, quant or QuantOptions(), out_dir, force=force)
        summary = {k: v for k, v in fp32.summary.items() if k not in ("sha256", "bytes", "checks",
                                                                     "config", "metadata")}
        summary |= q.summary | {"export_seconds": fp32.summary.get("export_seconds"),
                                "checks": {"onnx_checker": "ok (full_check)", "ort_cpu_vs_torch": [],
                                           "int8": "parity is measured by bench / parity, not gated"}}
        return ExportResult(q.path, q.cache_hit, summary)
    out_dir = ensure_cache_dir(out_dir, "export dir")
    key = cfg.key()  # hashes a --weights file: compute once
    digest = cfg.config_hash(key)
    path = out_dir / artifact_name(cfg, spec, size, digest)
    sidecar = path.with_suffix(".json")
    if not force:
        cached = verify_cached(path, sidecar, digest)
        if cached is not None:
            return ExportResult(path, True, cached)

    import onnx
    import onnxruntime
    import torch

    from ..models import build_model

    t0 = time.perf_counter()
    # forms a and b are built from the checked form-c graph (.forms); every form is checked
    # against the form-c module, which computes the same function from the same tensors
    model = build_model(spec, form="c", seed=cfg.seed, weights=cfg.weights, cache_dir=between)
    build_s = time.perf_counter() - t0
    ref_cx = torch_complexity(model, size)
    built_from = None
    t1 = time.perf_counter()
    if cfg.form == "c":
        proto = _run_exporter(*_export_inputs(model, cfg, size), cfg, spec)
    else:
        from dataclasses import replace

        from ..models.blocks import Bottleneck
        from .forms import split_forms

        blocks = sum(isinstance(m, Bottleneck) for m in model.modules())
        if not blocks:
            raise UsageError(f"--form {cfg.form} needs a bottleneck arch (resnet50+, resnext*, "
                             "wide_resnet*); this arch has no grouped bottleneck")
        base = export_onnx(replace(cfg, form="c"), between, force=force)
        t1 = time.perf_counter()
        proto = split_forms(onnx.load(str(base.path)), cfg.form, blocks)
        built_from = {"form_c": str(base.path), "sha256": base.summary.get("sha256"),
                      "method": "onnx rewrite of the form-c graph (resnext_bench.exporters.forms)"}
    export_s = time.perf_counter() - t1
    meta = {
        "arch": spec.name, "family": spec.family, "cardinality": spec.cardinality,
        "width": spec.base_width, "form": cfg.form, "seed": cfg.seed,
        "weights": cfg.weights or "calibrated-default", "precision": cfg.precision,
        "image_size": size, "batch": "dynamic" if cfg.batch is None else cfg.batch,
        "exporter": cfg.exporter, "opset": cfg.opset, "torch_version": torch.__version__,
        "onnx_version": onnx.__version__, "resnext_bench_version": __version__,
        "config_hash": digest,
    }
    if built_from:
        meta["built_from"] = built_from["sha256"]
    from ..models.taps import tap_plan
    from .layer_taps import TAPS_KEY, taps_metadata

    taps = taps_metadata(proto, tap_plan(spec))  # module path -> tensor, for layer-wise parity
    del proto.metadata_props[:]
    for k, v in meta.items():
        proto.metadata_props.add(key=f"resnext_bench.{k}", value=str(v))
    if taps is not None:
        proto.metadata_props.add(key=TAPS_KEY, value=taps)
    proto.producer_name = f"resnext-bench {__version__} ({cfg.exporter} exporter, torch {torch.__version__})"

    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
        try:
            onnx.checker.check_model(str(tmp), full_check=True)
        except Exception as exc:
            raise ExportCheckError(f"onnx.checker rejected the export: {str(exc).splitlines()[0]}") from exc
        graph_cx = onnx_complexity(proto, size)
        ref_w = ref_cx.weight_params
        if graph_cx.macs != ref_cx.macs or graph_cx.weight_params != ref_w:
            raise ExportCheckError(
                f"graph complexity differs from the module: MACs {graph_cx.macs} vs {ref_cx.macs}, "
                f"conv/gemm weights {graph_cx.weight_params} vs {ref_w}")
        checks = check_against_torch(tmp, model, cfg, size)
        written = graph_opset(onnx.load(str(tmp), load_external_data=False))
        if written != cfg.opset:
            raise ExportCheckError(f"the written graph imports opset {written}, not {cfg.opset}")
        sha = file_digest(tmp)
    summary = {
        "arch": spec.name, "cardinality": spec.cardinality, "width": spec.base_width,
        "form": cfg.form, "precision": cfg.precision, "opset": cfg.opset,
        "exporter": cfg.exporter, "batch": "dynamic" if cfg.batch is None else cfg.batch,
        "image_size": size, "seed": cfg.seed, "weights": cfg.weights,
        "params": ref_cx.params, "macs": graph_cx.macs, "flops": graph_cx.flops,
        "graph_params": graph_cx.params, "torch_macs": ref_cx.macs,
        "bytes": path.stat().st_size, "sha256": sha,
        "export_seconds": round(export_s, 3), "model_build_seconds": round(build_s, 3),
        "total_seconds": round(time.perf_counter() - t0, 3),
        "checks": {"onnx_checker": "ok (full_check)", "complexity": "macs and conv/gemm weights match torch",
                   "ort_cpu_vs_torch": checks,
                   "onnxruntime_version": onnxruntime.__version__},
        "config_hash": digest, "config": key, "metadata": meta,
    }
    if built_from:
        summary["built_from"] = built_from
    write_json_atomic(sidecar, summary)
    return ExportResult(path, False, summary)

