"""int8: ONNX Runtime static quantization of a checked fp32 export, cached like exports.

``onnxruntime.quantization.quantize_static`` in QDQ format with per-channel symmetric int8
weights, after ``quant_pre_process`` (shape inference and graph optimization). Activations:
``uint8`` asymmetric (U8S8) for ONNX Runtime's CPU provider -- its fast path on x86 without
VNNI; measured here on an AVX2 EPYC, S8S8 ran 1.5x *slower* than fp32 -- or ``int8`` symmetric
(S8S8) for TensorRT's explicit quantization and the CUDA provider. Calibration runs on a folder of
real images -- by default the images parity is judged on (``--images``, else the built-in
photos) as seeded *random crops*, disjoint from the centre crops parity uses -- or on a folder
given with ``--calib-images``, or on seeded noise only when asked (``--calib-images synthetic``),
with the method asked for (minmax, entropy, percentile). ``exclude`` keeps named nodes in float
(the accuracy control of :mod:`.int8_fallback` chooses them).

The quantized file is cached under the export dir, keyed by the fp32 file's sha256 and the
calibration settings (method, image count, source: the synthetic seed or a hash of the folder's
file names and sizes); a hit is verified like an export (sha256, checker, metadata hash). The
file carries the fp32 file's resnext-bench metadata with ``precision = int8`` and the
quantization settings, so ``bench --onnx`` knows what it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import __version__
from ..config import QuantOptions
from ..core.errors import UsageError
from ..core.fileio import atomic_path, ensure_dir, file_digest, write_json_atomic
from ..models.imagefiles import SYNTHETIC
from .artifact import ExportResult

CALIB_SEED = 777
QUANT_VERSION = 1  # bump when the recipe below changes: old cached files are rebuilt
METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


def calibration_plan(quant: QuantOptions) -> tuple[str | None, bool]:
    """(folder or None for seeded noise, random crops?) of the calibration inputs."""
    if quant.calib_images == SYNTHETIC:  # noise only when asked
        return None, False
    folder = quant.calib_images or "builtin"
    crops = quant.calib_crops == "on" or (quant.calib_crops == "auto" and quant.calib_images is None)
    return folder, crops


def calibration_source(quant: QuantOptions, seed: int = CALIB_SEED) -> str:
    """A stable name of the calibration inputs (part of the cache key, and what rows say)."""
    folder, crops = calibration_plan(quant)
    if folder is None:
        return f"synthetic seed {seed}"
    from ..models.imagefiles import images_digest

    digest = images_digest(folder, None if crops else quant.calib_count)
    return f"random crops of {digest} seed {seed}" if crops else digest


def calibration_images(quant: QuantOptions, image_size: int, seed: int = CALIB_SEED):
    """The calibration (or, with another seed, the control) inputs."""
    from ..models.inputs import folder_images, photo_crops, synthetic_images

    folder, crops = calibration_plan(quant)
    if folder is None:
        return synthetic_images(quant.calib_count, image_size, seed)
    if crops:
        return photo_crops(quant.calib_count, image_size, seed, folder=folder)
    return folder_images(folder, image_size, limit=quant.calib_count)


def _reader(images, input_name: str):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter([{input_name: images[i:i + 1]} for i in range(len(images))])

        def get_next(self):
            return next(self._it, None)

    return Reader()


@dataclass(frozen=True)
class Fp32File:
    """What quantization needs of the fp32 file, read once: its metadata, input and sha256
    (the accuracy control quantizes the same file many times)."""

    meta: dict
    input_name: str
    image_size: int
    sha256: str


def read_fp32(fp32_path: str | Path) -> Fp32File:
    """Parse (external weights not read) and hash the fp32 file; refuse another precision or
    an unknown input size with one line."""
    from .onnx_export import load_user_onnx, metadata_of

    header = load_user_onnx(fp32_path)
    meta, graph_input = metadata_of(header), header.graph.input[0]
    del header
    if meta.get("resnext_bench.precision", "fp32") != "fp32":
        raise UsageError(f"--onnx {fp32_path}: int8 quantization starts from an fp32 file, this one "
                         f"is {meta['resnext_bench.precision']}")
    dims = graph_input.type.tensor_type.shape.dim
    size = int(meta.get("resnext_bench.image_size") or dims[-1].dim_value or 0)
    if size <= 0:
        raise UsageError(f"--onnx {fp32_path}: cannot tell the input size (no resnext-bench metadata)")
    return Fp32File(meta, graph_input.name, size, file_digest(fp32_path))


def quantize_onnx(fp32_path: str | Path, quant: QuantOptions, out_dir: str | Path | None = None,
                  *, force: bool = False, exclude: tuple[str, ...] = (),
                  fp32: Fp32File | None = None) -> ExportResult:
    """The int8 QDQ file of ``fp32_path`` (a cache hit when an intact identical one exists).
    ``quant.quant_activations = "auto"`` means uint8 (a file for the CPU provider); ``exclude``
    names nodes (of the pre-processed graph) kept in float. With ``quant.int8_target`` set, the
    accuracy control chooses ``exclude`` (:func:`.int8_fallback.quantize_to_target`)."""
    if quant.int8_target and not exclude:
        from .int8_fallback import quantize_to_target

        return quantize_to_target(fp32_path, quant, out_dir, force=force)
    acts = "uint8" if quant.quant_activations == "auto" else quant.quant_activations
    import onnx

    from .onnx_export import _verify_cached

    fp32_path = Path(fp32_path)
    fp32 = fp32 or read_fp32(fp32_path)
    meta, size, fp32_sha = fp32.meta, fp32.image_size, fp32.sha256
    out_dir = ensure_dir(out_dir or fp32_path.parent)
    source = calibration_source(quant)
    key = {"fp32_sha256": fp32_sha, "method": quant.calib_method, "count": quant.calib_count,
           "source": source, "format": "QDQ", "weights": "int8 per-channel",
           "activations": "int8 symmetric" if acts == "int8" else "uint8 asymmetric",
           "quant_version": QUANT_VERSION}
    if exclude:
        key["float_nodes"] = sorted(exclude)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    tag = f"_f{len(exclude)}" if exclude else ""
    path = out_dir / f"{fp32_path.stem}_int8_{acts}_{quant.calib_method}{tag}_{digest[:12]}.onnx"
    sidecar = path.with_suffix(".json")
    if not force:
        cached = _verify_cached(path, sidecar, digest)
        if cached is not None:
            return ExportResult(path, True, cached)

    import onnxruntime
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    images = calibration_images(quant, size)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        extra = {"ActivationSymmetric": acts == "int8", "WeightSymmetric": True}
        if quant.calib_method == "percentile":
            extra["CalibPercentile"] = 99.999
        # the calibrators print progress on stdout, which is the CLI's (--json) output
        with atomic_path(path) as out, contextlib.redirect_stdout(io.StringIO()):
            quantize_static(str(pre), str(out), _reader(images, fp32.input_name),
                            quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QInt8 if acts == "int8" else QuantType.QUInt8,
                            weight_type=QuantType.QInt8,
                            calibrate_method=getattr(CalibrationMethod, METHODS[quant.calib_method]),
                            nodes_to_exclude=list(exclude), extra_options=extra)
            model = onnx.load(str(out))
            qmeta = dict(meta, **{"resnext_bench.precision": "int8",
                                  "resnext_bench.config_hash": digest,
                                  "resnext_bench.quantization": json.dumps(key, sort_keys=True),
                                  "resnext_bench.resnext_bench_version": __version__})
            del model.metadata_props[:]
            for k, v in qmeta.items():
                model.metadata_props.add(key=k, value=str(v))
            onnx.save(model, str(out))
            onnx.checker.check_model(str(out), full_check=True)
            n_qdq = sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)
            sha = file_digest(out)
    seconds = time.perf_counter() - t0
    summary = {"precision": "int8", "fp32_path": str(fp32_path), "config_hash": digest,
               # count: the images the calibration really saw (a folder of 4 gives 4, whatever
               # --calib-count asked for); asked_count keeps the setting
               "quantization": key | {"count": int(len(images)), "asked_count": quant.calib_count,
                                      "calibration_seconds": round(seconds, 3),
                                      "onnxruntime_version": onnxruntime.__version__},
               "qdq_nodes": n_qdq, "bytes": path.stat().st_size, "sha256": sha,
               "metadata": qmeta, "settings": asdict(quant)}
    write_json_atomic(sidecar, summary)
    return ExportResult(path, False, summary)
