"""What a build step hands on: the file it wrote (:class:`ExportResult`), and the verified file a
measuring worker loads (:class:`Artifact`).

The export cache verifies a hit before it returns it (sha256 against the sidecar, the ONNX
checker, the metadata hash): seconds for a large model. That verification happens once, in the
prepare process of a measurement group; the :class:`Artifact` it returns travels to every
measuring worker of the group (and to every respawn), which loads ``path`` as it is and never
exports, hashes or checks the file again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ExportResult:
    """A file written by :func:`~.onnx_export.export_onnx` or :func:`~.quantize.quantize_onnx`:
    its path, whether it came from the cache, and its build summary (the sidecar JSON)."""

    path: Path
    cache_hit: bool
    summary: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """What ``export --json`` / ``quantize --json`` print: path, cache hit, the summary."""
        return {"path": str(self.path), "cache_hit": self.cache_hit, **self.summary}

    def artifact(self, precision: str) -> "Artifact":
        s = self.summary
        return Artifact(path=str(self.path), sha256=s.get("sha256"),
                        bytes=s.get("bytes") or Path(self.path).stat().st_size, precision=precision,
                        exporter=s.get("exporter"), opset=s.get("opset"),
                        export_seconds=s.get("export_seconds"), cache_hit=self.cache_hit,
                        quantization=s.get("quantization"), complexity=complexity_of(s))


#: the complexity fields an export summary counts (torch params, graph MACs and FLOPs per image)
COMPLEXITY_FIELDS = ("params", "macs", "flops")


def complexity_of(summary: dict) -> dict | None:
    """The export's own complexity count, or None where the summary has none (a user's file)."""
    if all(isinstance(summary.get(k), int) for k in COMPLEXITY_FIELDS):
        return {k: summary[k] for k in COMPLEXITY_FIELDS}
    return None


@dataclass(frozen=True)
class Artifact:
    """The ONNX file one configuration runs, verified by the prepare process.

    ``precision``: the file's precision (the row's ``onnx_precision``: ``fp32`` for a TensorRT
    fp16 row, which TensorRT lowers itself). ``complexity``: params / MACs / FLOPs as the export
    counted them (None for a user's ``--onnx`` file: the arch's count is used)."""

    path: str
    sha256: str | None
    bytes: int
    precision: str
    exporter: str | None = None
    opset: int | None = None
    export_seconds: float | None = None
    cache_hit: bool | None = None
    quantization: dict | None = None
    complexity: dict | None = None
    #: the debug twin for layer-wise parity (:class:`~.layer_taps.Twin`), made and verified by
    #: the prepare process too; None where the row compares no layers
    twin: object | None = None

    def row_fields(self) -> dict:
        """The result row's artifact fields (flat keys, as stored)."""
        return {"onnx_path": self.path, "onnx_bytes": self.bytes, "onnx_sha256": self.sha256,
                "onnx_precision": self.precision, "export_seconds": self.export_seconds,
                "export_cache_hit": self.cache_hit, "exporter": self.exporter,
                "opset": self.opset, "quantization": self.quantization}
