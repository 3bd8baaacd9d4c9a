"""An ONNX file on disk: its external data, provenance hash, metadata, and whether a cached
file is the one its sidecar describes. Shared by the exporter and the quantizers (no module of
this package imports the exporter for these)."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import UsageError
from ..core.fileio import file_digest


def external_locations(model) -> dict[str, str]:
    """location -> first initializer naming it, of a parsed model's external data."""
    import onnx

    out: dict[str, str] = {}
    for t in model.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            for e in t.external_data:
                if e.key == "location":
                    out.setdefault(e.value, t.name)
    return out


def check_external_data(path: str | Path, model, flag: str = "--onnx") -> None:
    """Every external-data location of ``model`` (the file at ``path``) must resolve inside
    the model's folder: no absolute path, no ``..``, no symlink out. Checked on the parsed
    graph before any data file is opened, hashed or handed to a runtime (ONNX Runtime and
    OpenVINO refuse such a file too, but only after the tool would have read the outside
    file): a one-line :class:`UsageError`."""
    import os
    from pathlib import PurePath

    folder = Path(os.path.realpath(Path(path).parent))
    for loc, tensor in external_locations(model).items():
        pure = PurePath(loc)
        why = None
        if pure.is_absolute() or loc.startswith(("/", "\\")):
            why = "is an absolute path"
        elif ".." in pure.parts or ".." in loc.replace("\\", "/").split("/"):
            why = "climbs out with '..'"
        else:
            real = Path(os.path.realpath(folder / loc))
            if real != folder and folder not in real.parents:
                why = "resolves outside it (a symlink out)"
        if why:
            raise UsageError(f"{flag} {path}: the external data of initializer {tensor!r} "
                             f"({loc!r}) {why}: external data must lie in the model's folder; "
                             "not opened")


def external_data_files(path: str | Path) -> list[Path]:
    """The data files an ONNX file's initializers point to (external data), in sorted order;
    a location outside the model's folder is refused (:func:`check_external_data`)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    check_external_data(path, model)
    return [Path(path).parent / n for n in sorted(external_locations(model))]


def onnx_provenance(path: str | Path) -> tuple[str, int]:
    """(sha256, bytes) covering the graph file *and* its external data files: zeroing a data
    file changes what runs, so it must change the recorded hash. Without external data: the
    file's own sha256."""
    import hashlib

    data = external_data_files(path)
    if not data:
        return file_digest(path), Path(path).stat().st_size
    h = hashlib.sha256()
    total = 0
    for f in [Path(path)] + data:
        if not f.is_file():
            raise UsageError(f"{path}: its external data file {f.name} is missing")
        h.update(f.name.encode() + b"\0" + file_digest(f).encode())
        total += f.stat().st_size
    return h.hexdigest(), total


def read_metadata(path: str | Path) -> dict:
    """The ``metadata_props`` of an ONNX file (external weight files are not read)."""
    import onnx

    return metadata_of(onnx.load(str(path), load_external_data=False))


def metadata_of(model) -> dict:
    return {p.key: p.value for p in model.metadata_props}


#: ops that make a file an int8 (QDQ or operator-quantized) file
_INT8_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
             "MatMulInteger", "DynamicQuantizeLinear"}


def file_precision(model) -> str:
    """The precision a parsed ONNX file runs in by itself, read from the graph (not from its
    name or metadata): ``int8`` with quantize / dequantize or integer ops, ``fp16`` when its
    float initializers are mostly float16, else ``fp32``."""
    import onnx

    if any(n.op_type in _INT8_OPS for n in model.graph.node):
        return "int8"
    floats = [t.data_type for t in model.graph.initializer
              if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)]
    if floats and sum(d == onnx.TensorProto.FLOAT16 for d in floats) > len(floats) / 2:
        return "fp16"
    return "fp32"


def file_quantization(model) -> dict | None:
    """The ``quantization`` record of an int8 file: the resnext-bench metadata where the file
    has it (quantizer, recipe, calibration), else what the graph shows."""
    import json

    if file_precision(model) != "int8":
        return None
    meta = metadata_of(model)
    raw = meta.get("resnext_bench.quantization")
    try:
        record = json.loads(raw) if raw else None
    except ValueError:
        record = None
    if isinstance(record, dict):
        return dict(record, source="the file's resnext-bench metadata")
    ops = sorted({n.op_type for n in model.graph.node if n.op_type in _INT8_OPS})
    return {"source": "the file's graph (no resnext-bench metadata: quantizer unknown)",
            "quantizer": None, "ops": ops}


def load_user_onnx(path: str | Path, flag: str = "--onnx"):
    """An ONNX file the user named, parsed once (external weight files not read); a missing or
    unreadable file is a one-line :class:`UsageError` naming ``flag``."""
    import onnx

    p = Path(path)
    if not p.exists():
        raise UsageError(f"{flag} {path}: no such file")
    if not p.is_file():
        raise UsageError(f"{flag} {path}: not a regular file (a folder, a FIFO or a device)")
    if p.stat().st_size == 0:
        raise UsageError(f"{flag} {path}: an empty file, not an ONNX model")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise UsageError(f"{flag} {path}: not a readable ONNX file ({type(exc).__name__})") from None
    check_external_data(path, model, flag)
    check_image_classifier(path, model, flag)
    return model


#: the element types an image input may have (float32, float16)
_IMAGE_INPUT_TYPES = {1: "float32", 10: "float16"}


def check_image_classifier(path, model, flag: str = "--onnx") -> None:
    """The file must be what every runtime here feeds and reads: one image input
    ``[N, 3, H, W]`` of float32 or float16, and a ``[N, classes]`` output. Anything else is a
    usage error naming what the file has (not a failed row after its load)."""
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise UsageError(f"{flag} {path}: {len(inputs)} graph inputs "
                         f"({', '.join(i.name for i in inputs) or 'none'}); an image classifier "
                         "here has one, [N, 3, H, W]")
    t = inputs[0].type.tensor_type
    dims = len(t.shape.dim) if t.HasField("shape") else None
    if t.elem_type not in _IMAGE_INPUT_TYPES or (dims is not None and dims != 4):
        import onnx

        kind = onnx.TensorProto.DataType.Name(t.elem_type) if t.elem_type else "untyped"
        raise UsageError(f"{flag} {path}: input {inputs[0].name!r} is {kind} of rank {dims}; "
                         "an image input here is float32 or float16 [N, 3, H, W]")
    outputs = list(model.graph.output)
    if not outputs:
        raise UsageError(f"{flag} {path}: the graph has no output")
    o = outputs[0].type.tensor_type
    if o.HasField("shape") and len(o.shape.dim) != 2:
        raise UsageError(f"{flag} {path}: output {outputs[0].name!r} has rank {len(o.shape.dim)}; "
                         "a classifier's output here is [N, classes]")


def verify_cached(path: Path, sidecar: Path, digest: str) -> dict | None:
    """The cached summary if ``path`` is intact and belongs to ``digest``; None to rebuild. A
    file that exists but is not what its sidecar recorded (changed since, made from another
    config, failing the checker) is rebuilt with one warning line, never served."""
    import onnx

    from ..core.cacheentry import warn_rebuilt
    from ..core.fileio import loads_bounded

    if not path.is_file() or not sidecar.is_file():
        return None
    try:
        summary = loads_bounded(sidecar.read_text())
        if not isinstance(summary, dict) or summary.get("config_hash") != digest:
            why = "its sidecar describes another config"
        elif summary.get("sha256") != file_digest(path):
            why = "its sha256 differs from the one recorded when it was written (changed since)"
        else:
            model = onnx.load(str(path))  # one parse for the checker and the metadata (< 2 GB files)
            onnx.checker.check_model(model, full_check=True)
            meta = {p.key: p.value for p in model.metadata_props}
            if meta.get("resnext_bench.config_hash") != digest:
                why = "its metadata names another config"
            else:
                return summary
    except Exception as exc:  # noqa: BLE001 -- whatever is wrong with it, it is rebuilt
        why = f"unreadable ({type(exc).__name__})"
    warn_rebuilt(path, why)
    return None
