"""Layer taps in an ONNX graph, and the debug twin that exposes them.

At export, :func:`find_taps` locates each tap of the arch's plan (:mod:`resnext_bench.models.
taps`) in the graph and the export writes the mapping, module path -> tensor name, into the
file's metadata (``resnext_bench.layer_taps``); quantizers copy the fp32 file's metadata and
keep its tensor names (the float tensor stays the producer's output, a Q -> DQ pair after it), so
an int8 file names the same tensors.

How a tap is found -- by the graph's structure, then checked against the module path the torch
exporter wrote on the node (``pkg.torch.onnx.name_scopes``) where there is one:

* the residual Adds are the ``Add`` nodes with two computed inputs (no initializer), in graph
  (topological) order: one per block, in the blocks' order;
* of an Add's two inputs, the *branch* is the one with more convolutions of its own (ancestors
  the other input does not have): the identity path has none, a projection shortcut one;
* the block's output is the Add's output, or the ``Relu`` after it where that is its only
  consumer; a stage's output is its last block's;
* ``stem`` is the tensor the first block reads: the identity input, or the projection's input.

Inputs reached through a ``DequantizeLinear <- QuantizeLinear`` pair are named by the float
tensor before the pair (the fp32 file's name).

The debug twin (:func:`build_twin`) is *the artifact itself* -- an int8 or damaged file included
-- with each tap added as a graph output. Where a tap's float tensor is followed by a Q -> DQ
pair, a duplicate of that DQ reads the same int8 tensor and is the output (the value the int8
graph passes on), so the original DQ keeps its single consumer and the runtime fuses the same
int8 kernels as in the artifact. Twins are cached under ``artifacts/twins`` keyed by the artifact's sha256.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

TAPS_KEY = "resnext_bench.layer_taps"
TWIN_VERSION = 2  # 2: taps through a duplicate DQ (fusions kept)
_CONVS = {"Conv", "ConvInteger", "QLinearConv", "ConvTranspose"}


@dataclass
class TapMatch:
    """Where each tap is in a graph: ``tensors`` (tap name -> float tensor name), the taps not
    found and why."""

    tensors: dict = field(default_factory=dict)
    unmatched: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    source: str = "structure"


class _Graph:
    def __init__(self, graph):
        self.nodes = list(graph.node)
        self.producer = {}
        self.consumers: dict[str, list] = {}
        for i, n in enumerate(self.nodes):
            for o in n.output:
                self.producer[o] = i
            for t in n.input:
                self.consumers.setdefault(t, []).append(i)
        self.constants = {t.name for t in graph.initializer}
        self.constants |= {o for n in self.nodes if n.op_type == "Constant" for o in n.output}
        self.tensors = set(self.producer) | {i.name for i in graph.input} | self.constants

    def op(self, tensor):
        i = self.producer.get(tensor)
        return None if i is None else self.nodes[i]

    def is_constant(self, tensor) -> bool:
        """An initializer, a Constant, or a DQ of one (a quantized weight)."""
        if tensor in self.constants:
            return True
        n = self.op(tensor)
        return n is not None and n.op_type == "DequantizeLinear" and n.input[0] in self.constants

    def float_name(self, tensor: str) -> str:
        """The float tensor before a ``QuantizeLinear -> DequantizeLinear`` pair, else itself."""
        n = self.op(tensor)
        if n is not None and n.op_type == "DequantizeLinear":
            q = self.op(n.input[0])
            if q is not None and q.op_type == "QuantizeLinear":
                return q.input[0]
        return tensor

    def dequantizer_after(self, tensor: str):
        """The DequantizeLinear of the Q -> DQ pair after a float tensor (None: not quantized)."""
        for qi in self.consumers.get(tensor, []):
            q = self.nodes[qi]
            if q.op_type == "QuantizeLinear" and q.input[0] == tensor:
                for di in self.consumers.get(q.output[0], []):
                    if self.nodes[di].op_type == "DequantizeLinear":
                        return self.nodes[di]
        return None

    def ancestors(self, tensor: str) -> set:
        seen, stack = set(), [tensor]
        while stack:
            i = self.producer.get(stack.pop())
            if i is None or i in seen:
                continue
            seen.add(i)
            stack.extend(self.nodes[i].input)
        return seen

    def scopes(self, i: int) -> list:
        for p in self.nodes[i].metadata_props:
            if p.key == "pkg.torch.onnx.name_scopes":
                try:
                    import ast

                    value = ast.literal_eval(p.value)
                    return list(value) if isinstance(value, (list, tuple)) else []
                except (ValueError, SyntaxError):
                    return []
        return []


def find_taps(model, plan) -> TapMatch:
    """Locate each tap of ``plan`` in ``model`` (a ModelProto) by the rules of the module doc."""
    g = _Graph(model.graph)
    blocks = [t.block for t in plan if t.kind == "block"]
    adds = [i for i, n in enumerate(g.nodes) if n.op_type == "Add" and len(n.input) == 2
            and not any(g.is_constant(t) for t in n.input)]
    match = TapMatch()
    if len(adds) != len(blocks):
        match.problems.append(f"{len(adds)} residual Add node(s) for {len(blocks)} block(s): "
                              "the graph's blocks could not be matched to the model's")
        match.unmatched = [t.name for t in plan]
        return match
    scoped = 0
    for idx, (ai, path) in enumerate(zip(adds, blocks)):
        node = g.nodes[ai]
        scopes = g.scopes(ai)
        if scopes:
            if path not in scopes:
                match.problems.append(f"residual Add {node.name!r} is in module {scopes[-2] if len(scopes) > 1 else scopes}, "
                                      f"expected {path}")
                match.unmatched = [t.name for t in plan]
                match.tensors = {}
                return match
            scoped += 1
        a, b = node.input
        anc_a, anc_b = g.ancestors(a), g.ancestors(b)
        conv_a = sum(g.nodes[i].op_type in _CONVS for i in anc_a - anc_b)
        conv_b = sum(g.nodes[i].op_type in _CONVS for i in anc_b - anc_a)
        if conv_a == conv_b:
            match.problems.append(f"{path}: its Add's inputs have {conv_a} own convolution(s) each; "
                                  "the branch cannot be told from the shortcut")
            continue
        branch, identity = (a, b) if conv_a > conv_b else (b, a)
        own = min(conv_a, conv_b)
        match.tensors[f"{path}.branch"] = g.float_name(branch)
        out = node.output[0]
        users = g.consumers.get(out, [])
        if len(users) == 1 and g.nodes[users[0]].op_type == "Relu":
            out = g.nodes[users[0]].output[0]
        match.tensors[path] = out
        if idx == 0 and any(t.kind == "stem" for t in plan):
            if own == 0:
                match.tensors["stem"] = g.float_name(identity)
            else:  # the projection shortcut's input
                proj = g.op(g.float_name(identity))
                while proj is not None and proj.op_type not in _CONVS:
                    proj = g.op(proj.input[0]) if proj.input else None
                if proj is not None:
                    match.tensors["stem"] = g.float_name(proj.input[0])
    for tap in plan:
        if tap.kind == "stage" and tap.block in match.tensors:
            match.tensors[tap.name] = match.tensors[tap.block]
    match.unmatched = [t.name for t in plan if t.name not in match.tensors]
    match.source = "structure, checked against the exporter's module paths" if scoped else "structure"
    return match


def taps_metadata(model, plan) -> str | None:
    """The ``resnext_bench.layer_taps`` value for an export (None when the graph's taps cannot
    all be matched: the file then says nothing rather than something wrong)."""
    match = find_taps(model, plan)
    if match.unmatched or match.problems:
        return None
    return json.dumps({"version": 1, "source": match.source, "taps": match.tensors}, sort_keys=True)


def taps_from_metadata(model, plan) -> TapMatch | None:
    """The mapping the file's metadata records, checked against its graph; None without one."""
    raw = next((p.value for p in model.metadata_props if p.key == TAPS_KEY), None)
    if not raw:
        return None
    try:
        record = json.loads(raw)
        tensors = dict(record["taps"])
    except (ValueError, KeyError, TypeError):
        return None
    g = _Graph(model.graph)
    match = TapMatch(source="the file's metadata (module path -> tensor, written at export)")
    for tap in plan:
        name = tensors.get(tap.name)
        if isinstance(name, str) and name in g.tensors:
            match.tensors[tap.name] = name
        else:
            match.unmatched.append(tap.name)
    return match


@dataclass
class Twin:
    """A debug twin: ``path``, ``outputs`` (tap name -> the twin's graph output name),
    ``logits`` (the original output's name), the taps not exposed and how they were found."""

    path: Path
    outputs: dict
    logits: str
    unmatched: list
    source: str
    notes: list = field(default_factory=list)
    dynamic_batch: bool = True


def _twin_record(path: Path):
    try:
        rec = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        return Twin(path, dict(rec["outputs"]), rec["logits"], list(rec["unmatched"]),
                    rec["source"], list(rec.get("notes", [])), bool(rec.get("dynamic_batch", False)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def build_twin(artifact: str | Path, sha256: str, plan, cache_dir: str | Path) -> Twin:
    """The artifact with every tap of ``plan`` it holds added as a graph output (see the module
    doc), cached under ``cache_dir/twins``. Matching: the file's metadata where it has it, else
    the graph's structure; what neither finds is listed in ``unmatched``."""
    import onnx

    from ..core.fileio import atomic_path, file_digest, write_json_atomic

    plan_key = ",".join(t.name for t in plan)
    key = hashlib.sha256(f"{sha256}|{plan_key}|v{TWIN_VERSION}".encode()).hexdigest()[:16]
    folder = Path(cache_dir) / "twins"
    path = folder / f"{Path(artifact).stem[:80]}_twin_{key}.onnx"
    if path.is_file():
        twin = _twin_record(path)
        if twin is not None and json.loads(path.with_suffix(".json").read_text()).get("sha256") == file_digest(path):
            return twin
    model = onnx.load(str(artifact))
    match = taps_from_metadata(model, plan)
    notes = []
    if match is None or match.unmatched:
        structural = find_taps(model, plan)
        if match is None:
            notes.append("no layer_taps metadata in the file: tensors matched by the graph's structure")
        if match is None or len(structural.tensors) > len(match.tensors):
            match = structural
    notes += match.problems
    g = _Graph(model.graph)
    existing = {o.name for o in model.graph.output}
    logits = model.graph.output[0].name
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
        types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    except Exception:  # noqa: BLE001 -- types then default to the file's float type
        types = {}
    dim0 = model.graph.input[0].type.tensor_type.shape.dim
    dynamic = not dim0 or not dim0[0].HasField("dim_value")
    default_type = model.graph.output[0].type.tensor_type.elem_type or onnx.TensorProto.FLOAT
    outputs = {}
    for tap in plan:
        tensor = match.tensors.get(tap.name)
        if tensor is None:
            continue
        dq = g.dequantizer_after(tensor)
        if dq is not None:
            # a duplicate of the DQ reads the same int8 tensor for the output: the original DQ
            # keeps its one consumer, so the runtime fuses the int8 kernels as in the artifact
            # (a DQ that is also a graph output is left unfused: float convs on dequantized
            # weights, measured 8x slower and not the kernels under test)
            exposed = f"{dq.output[0]}__layer_tap"
            elem = types.get(dq.output[0]) or default_type
            if exposed not in existing:
                dup = onnx.helper.make_node("DequantizeLinear", list(dq.input), [exposed],
                                            name=f"{dq.name or dq.output[0]}__layer_tap")
                dup.attribute.extend(dq.attribute)
                dup.domain = dq.domain
                model.graph.node.append(dup)
        else:
            exposed = tensor
            elem = types.get(exposed) or default_type
        if exposed not in existing:
            model.graph.output.append(onnx.helper.make_tensor_value_info(exposed, elem, None))
            existing.add(exposed)
        outputs[tap.name] = exposed
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))
        digest = file_digest(tmp)
    write_json_atomic(path.with_suffix(".json"), {
        "artifact": str(artifact), "artifact_sha256": sha256, "sha256": digest,
        "outputs": outputs, "logits": logits, "unmatched": match.unmatched,
        "source": match.source, "notes": notes, "dynamic_batch": dynamic,
        "twin_version": TWIN_VERSION})
    return Twin(path, outputs, logits, list(match.unmatched), match.source, notes, dynamic)
