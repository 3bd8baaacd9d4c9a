"""The data every quantizer calibrates on, and what quantization needs of the fp32 file.

One calibration set, whichever quantizer runs (ONNX Runtime's ``quantize_static`` or NNCF):
by default seeded *random crops* of the parity images (else the built-in photos), disjoint
from the centre crops parity is judged on; a folder given with ``--calib-images``; or seeded
noise only when asked (``--calib-images synthetic``). Its stable name
(:func:`calibration_source`) is part of every int8 cache key, so two quantizers on the same
data differ in their file only by the quantizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import QuantOptions
from ..core.errors import UsageError
from ..core.fileio import file_digest
from ..models.imagefiles import SYNTHETIC
from .onnxfile import load_user_onnx, metadata_of

CALIB_SEED = 777


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
    """The calibration (or, with another seed, the control) inputs, NCHW float32."""
    from ..models.inputs import folder_images, photo_crops, synthetic_images

    folder, crops = calibration_plan(quant)
    if folder is None:
        return synthetic_images(quant.calib_count, image_size, seed)
    if crops:
        return photo_crops(quant.calib_count, image_size, seed, folder=folder)
    return folder_images(folder, image_size, limit=quant.calib_count,
                         flag="--calib-images" if quant.calib_images else "--images")


def ort_reader(images, input_name: str):
    """ONNX Runtime's ``CalibrationDataReader`` over ``images``, one image per call."""
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

    path: Path
    meta: dict
    input_name: str
    image_size: int
    sha256: str


def read_fp32(fp32_path: str | Path) -> Fp32File:
    """Parse (external weights not read) and hash the fp32 file; refuse another precision or
    an unknown input size with one line."""
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
    return Fp32File(Path(fp32_path), meta, graph_input.name, size, file_digest(fp32_path))


def ort_outputs(path_or_bytes, images, batch: int = 8):
    """Logits of an ONNX model (a path or serialized bytes) on ONNX Runtime's CPU provider."""
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    src = path_or_bytes if isinstance(path_or_bytes, bytes) else str(path_or_bytes)
    s = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: images[i:i + batch]})[0]
                           for i in range(0, len(images), batch)])
