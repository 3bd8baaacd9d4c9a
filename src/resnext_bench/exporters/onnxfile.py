"""An ONNX file on disk: its external data, provenance hash, metadata, and whether a cached
file is the one its sidecar describes. Shared by the exporter and the quantizers (no module of
this package imports the exporter for these)."""

from __future__ import annotations

import json
from pathlib import Path

from ..core.errors import UsageError
from ..core.fileio import file_digest


def external_data_files(path: str | Path) -> list[Path]:
    """The data files an ONNX file's initializers point to (external data), in sorted order."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    names = set()
    for t in model.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            names.update(e.value for e in t.external_data if e.key == "location")
    return [Path(path).parent / n for n in sorted(names)]


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


def load_user_onnx(path: str | Path, flag: str = "--onnx"):
    """An ONNX file the user named, parsed once (external weight files not read); a missing or
    unreadable file is a one-line :class:`UsageError` naming ``flag``."""
    import onnx

    if not Path(path).is_file():
        raise UsageError(f"{flag} {path}: no such file")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise UsageError(f"{flag} {path}: not a readable ONNX file ({type(exc).__name__})") from None


def verify_cached(path: Path, sidecar: Path, digest: str) -> dict | None:
    """The cached summary if ``path`` is intact and belongs to ``digest``; None to rebuild."""
    import onnx

    if not path.is_file() or not sidecar.is_file():
        return None
    try:
        summary = json.loads(sidecar.read_text())
        if summary.get("config_hash") != digest or summary.get("sha256") != file_digest(path):
            return None
        model = onnx.load(str(path))  # one parse for the checker and the metadata (< 2 GB files)
        onnx.checker.check_model(model, full_check=True)
        meta = {p.key: p.value for p in model.metadata_props}
        if meta.get("resnext_bench.config_hash") != digest:
            return None
        return summary
    except Exception:
        return None
