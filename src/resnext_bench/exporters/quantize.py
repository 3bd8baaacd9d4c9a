"""int8: the QDQ file a quantizer (:mod:`.quantizers`) makes of a checked fp32 export, cached
like exports.

Whichever quantizer runs, this module owns what they share: the cache key, the file's metadata,
the checker, and the summary (the sidecar JSON and the row's ``quantization``). The key holds
the fp32 file's sha256, the quantizer's *recipe* resolved for this CPU (quantizer, activation
type, ``reduce_range``, method, ...), the calibration source (the synthetic seed, or a hash of
the folder's file names and sizes), the nodes kept in float and, for an accuracy-controlled
file, the target and its control set. A hit is verified like an export (sha256, checker,
metadata hash). The file carries the fp32 file's resnext-bench metadata with
``precision = int8`` and the recipe, so ``bench --onnx`` knows what it is.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

from .. import __version__
from ..config import QuantOptions
from ..core.fileio import atomic_path, ensure_dir, file_digest, write_json_atomic
from ..core.isa import cpu_flags
from .artifact import ExportResult
from .calibration import Fp32File, calibration_images, calibration_source, read_fp32
from .onnxfile import verify_cached
from .control_set import ControlSet
from .quantizers import float_weighted_ops, get_quantizer

QUANT_VERSION = 2  # bump when a recipe changes: old cached files are rebuilt


def quantize_onnx(fp32_path: str | Path, quant: QuantOptions, out_dir: str | Path | None = None,
                  *, force: bool = False, exclude: tuple[str, ...] = (),
                  fp32: Fp32File | None = None, control: ControlSet | None = None,
                  target: dict | None = None, flags: list[str] | None = None,
                  max_float: float = 1.0) -> ExportResult:
    """The int8 QDQ file of ``fp32_path`` by ``quant.quantizer`` (a cache hit when an intact
    identical one exists). ``exclude`` names nodes kept in float; ``control`` and ``target``
    ask for the quantizer's own accuracy control (NNCF's). ``flags``: the CPU's ISA flags the
    recipe is resolved for (default: this CPU's)."""
    import onnx

    quantizer = get_quantizer(quant.quantizer)
    fp32_path = Path(fp32_path)
    fp32 = fp32 or read_fp32(fp32_path)
    recipe = quantizer.recipe(quant, cpu_flags() if flags is None else flags)
    out_dir = ensure_dir(out_dir or fp32_path.parent)
    source = calibration_source(quant)
    key = {"fp32_sha256": fp32.sha256, "count": quant.calib_count, "source": source,
           "quant_version": QUANT_VERSION, **recipe}
    if exclude:
        key["float_nodes"] = sorted(exclude)
    if target is not None:
        key["accuracy_control"] = {"target": target, "control": control.source,
                                   "max_float": max_float}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    tag = f"_f{len(exclude)}" if exclude else "_ac" if target is not None else ""
    acts = "s8" if "symmetric (" in recipe["activations"] or recipe["activations"].startswith("int8") else "u8"
    path = out_dir / f"{fp32_path.stem}_int8_{quantizer.name}_{acts}_{quantizer.file_tag(recipe)}{tag}_{digest[:12]}.onnx"
    sidecar = path.with_suffix(".json")
    if not force:
        cached = verify_cached(path, sidecar, digest)
        if cached is not None:
            return ExportResult(path, True, cached)
    quantizer.require()
    images = calibration_images(quant, fp32.image_size)
    t0 = time.perf_counter()
    with atomic_path(path) as out:
        if target is not None:
            extra = quantizer.accuracy_control(fp32, out, images, recipe, control, target, max_float)
        else:
            extra = quantizer.quantize(fp32, out, images, recipe, exclude)
        model = onnx.load(str(out))
        qmeta = dict(fp32.meta, **{"resnext_bench.precision": "int8",
                                   "resnext_bench.config_hash": digest,
                                   "resnext_bench.quantization": json.dumps(key, sort_keys=True),
                                   "resnext_bench.resnext_bench_version": __version__})
        del model.metadata_props[:]
        for k, v in qmeta.items():
            model.metadata_props.add(key=k, value=str(v))
        onnx.save(model, str(out))
        onnx.checker.check_model(str(out), full_check=True)
        n_qdq = sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)
        float_ops = float_weighted_ops(model)
        sha = file_digest(out)
    seconds = time.perf_counter() - t0
    summary = {"precision": "int8", "fp32_path": str(fp32_path), "config_hash": digest,
               # count: the images the calibration really saw (a folder of 4 gives 4, whatever
               # --calib-count asked for); asked_count keeps the setting
               "quantization": key | {"count": int(len(images)), "asked_count": quant.calib_count,
                                      "calibration_seconds": round(seconds, 3),
                                      "library_version": quantizer.version(),
                                      "float_weighted_ops": len(float_ops), **(extra or {})},
               "qdq_nodes": n_qdq, "float_weighted_ops": float_ops[:50],
               "bytes": path.stat().st_size, "sha256": sha,
               "metadata": qmeta, "settings": asdict(quant)}
    write_json_atomic(sidecar, summary)
    return ExportResult(path, False, summary)

