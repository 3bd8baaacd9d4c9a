"""The bundle in the forms a server takes: an OpenVINO IR and a Triton model repository.

* ``openvino/model.xml`` + ``model.bin`` (an OpenVINO pick): the measured ONNX file converted
  by OpenVINO itself (``Core.read_model`` then ``openvino.save_model``, weights kept as they
  are: no fp16 compression the row did not measure), and ``compile_config.json``, the
  ``compile_model`` properties the row ran with (hint, streams, threads, precision hint).
* ``triton/<model>/`` (an ONNX Runtime or OpenVINO pick on the CPU): ``config.pbtxt`` and the
  model under version ``1/`` (``model.onnx``, or the IR for OpenVINO's backend). The config
  says the backend, the input and output as the file declares them, ``max_batch_size`` (the
  measured batch, where the file's batch axis is dynamic), ``instance_group`` (as many CPU
  instances as the requests the row served at once: Triton runs one request per instance),
  ``dynamic_batching`` only where the pick batches, and the runtime options as measured (ONNX
  Runtime: ``intra_op_thread_count``, the graph optimisation level; OpenVINO: the compile
  properties, which its backend passes to ``compile_model``). It is parsed with Triton's own
  model-config schema (``tritonclient``'s ``model_config_pb2``) before it is written, where
  tritonclient is installed; the bundle's ``inference_config.json`` says whether it was.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from ..core.schema import ResultRow

#: ONNX element types -> Triton's
_TRITON_TYPES = {1: "TYPE_FP32", 10: "TYPE_FP16", 16: "TYPE_BF16", 3: "TYPE_INT8", 2: "TYPE_UINT8",
                 7: "TYPE_INT64", 6: "TYPE_INT32"}
#: our graph optimisation levels -> the Triton ONNX Runtime backend's ``optimization.graph.level``
#: (its README: -1 basic, 1 basic + extended, 2 none; omitted: all, ONNX Runtime's default)
_GRAPH_LEVELS = {"basic": -1, "extended": 1, "disable": 2}


def _io(onnx_path: Path) -> tuple[list[dict], list[dict]]:
    """The file's inputs and outputs: name, Triton type, dims (a dim_param is -1)."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    init = {i.name for i in model.graph.initializer}

    def spec(v) -> dict:
        t = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
        return {"name": v.name, "type": _TRITON_TYPES.get(t.elem_type, "TYPE_FP32"), "dims": dims}

    return ([spec(v) for v in model.graph.input if v.name not in init],
            [spec(v) for v in model.graph.output])


def model_name(r: ResultRow) -> str:
    """A Triton model name: letters, digits, ``_`` and ``-`` only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", f"{r.arch}_{r.runtime}_{r.precision}")


def triton_config(r: ResultRow, cfg: dict, onnx_path: Path) -> str:
    """``config.pbtxt`` for the pick (``cfg``: the bundle's ``inference_config``)."""
    inputs, outputs = _io(onnx_path)
    batched = all(io["dims"] and io["dims"][0] == -1 for io in inputs + outputs)
    backend = "openvino" if cfg["loader"] == "openvino" else "onnxruntime"
    lines = [f'name: "{model_name(r)}"', f'backend: "{backend}"',
             f"max_batch_size: {r.batch if batched else 0}"]

    def tensors(kind: str, items: list[dict]) -> None:
        lines.append(f"{kind} [")
        body = []
        for io in items:
            dims = io["dims"][1:] if batched else io["dims"]
            body.append(f'  {{ name: "{io["name"]}" data_type: {io["type"]} '
                        f'dims: [ {", ".join(str(d) for d in dims)} ] }}')
        lines.append(",\n".join(body))
        lines.append("]")

    tensors("input", inputs)
    tensors("output", outputs)
    instances = r.load_slots or 1
    lines.append(f"instance_group [ {{ count: {instances} kind: KIND_CPU }} ]")
    if batched and r.batch > 1:  # the pick batches: Triton gathers requests into its batch
        lines.append(f"dynamic_batching {{ preferred_batch_size: [ {r.batch} ] "
                     "max_queue_delay_microseconds: 1000 }")
    params: dict[str, str] = {}
    if backend == "onnxruntime":
        o = cfg.get("onnxruntime") or {}
        if o.get("intra_op_num_threads"):
            params["intra_op_thread_count"] = str(o["intra_op_num_threads"])
        level = _GRAPH_LEVELS.get((r.settings or {}).get("graph_opt_level", "all"))
        parts = [f"graph {{ level: {level} }}"] if level is not None else []
        if "OpenVINOExecutionProvider" in (o.get("providers") or ()):
            # the row ran ONNX Runtime with OpenVINO's execution provider (the backend's README)
            parts.append('execution_accelerators { cpu_execution_accelerator: [ { name: "openvino" } ] }')
        if parts:  # one optimization message: the field is singular
            lines.append(f"optimization {{ {' '.join(parts)} }}")
    else:
        for key, value in ((cfg.get("openvino") or {}).get("config") or {}).items():
            params[str(key)] = str(value)
    for key, value in params.items():
        lines.append(f'parameters {{ key: "{key}" value: {{ string_value: "{value}" }} }}')
    return "\n".join(lines) + "\n"


def validate_triton_config(text: str) -> str | None:
    """Parse ``text`` with Triton's model-config schema: a one-line "validated by" note, None
    when tritonclient is not installed here; a ValueError naming the problem if it does not
    parse (the bundle is then not written)."""
    try:
        from google.protobuf import text_format
        from tritonclient.grpc import model_config_pb2
    except ImportError:
        return None
    try:
        parsed = text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise ValueError(f"config.pbtxt does not parse as Triton's ModelConfig: {exc}") from None
    from importlib.metadata import version

    return (f"parsed as Triton's ModelConfig (tritonclient {version('tritonclient')} "
            f"model_config_pb2): {len(parsed.input)} input(s), {len(parsed.output)} output(s)")


def save_openvino_ir(onnx_path: Path, out_dir: Path, compile_config: dict) -> dict:
    """The IR of ``onnx_path`` (``model.xml`` / ``model.bin``) and its compile config."""
    import openvino as ov

    out_dir.mkdir(parents=True, exist_ok=True)
    model = ov.Core().read_model(str(onnx_path))
    ov.save_model(model, str(out_dir / "model.xml"), compress_to_fp16=False)
    (out_dir / "compile_config.json").write_text(json.dumps(compile_config, indent=2) + "\n")
    return {"xml": "openvino/model.xml", "bin": "openvino/model.bin",
            "compile_config": "openvino/compile_config.json",
            "how": f"openvino {ov.__version__}: Core.read_model + save_model(compress_to_fp16=False)"}


def write_server_formats(work: Path, r: ResultRow, cfg: dict, onnx_name: str | None) -> dict:
    """The IR and the Triton folder for the pick inside the bundle being assembled in
    ``work``; what was written (for ``inference_config.json``), or why not."""
    out: dict = {}
    if onnx_name is None or cfg["loader"] not in ("onnxruntime", "openvino") or r.device != "cpu":
        why = "the pick runs no ONNX file" if onnx_name is None else (
            f"no server form for a {r.runtime} pick on {r.device} here")
        return {"triton": None, "openvino_ir": None, "why_not": why}
    onnx_path = work / onnx_name
    if cfg["loader"] == "openvino":
        out["openvino_ir"] = save_openvino_ir(onnx_path, work / "openvino",
                                              (cfg.get("openvino") or {}).get("config") or {})
    text = triton_config(r, cfg, onnx_path)
    validated = validate_triton_config(text)
    repo = work / "triton" / model_name(r)
    version = repo / "1"
    version.mkdir(parents=True)
    if cfg["loader"] == "openvino":
        for f in ("model.xml", "model.bin"):
            shutil.copyfile(work / "openvino" / f, version / f)
    else:
        from ..exporters.onnxfile import external_data_files

        shutil.copyfile(onnx_path, version / "model.onnx")
        for f in external_data_files(onnx_path):
            shutil.copyfile(f, version / f.name)
    (repo / "config.pbtxt").write_text(text)
    out["triton"] = {"repository": "triton", "model": model_name(r),
                     "validated": validated or "not validated: tritonclient is not installed here "
                                                "(pip install 'resnext-bench[serve]')"}
    return out
