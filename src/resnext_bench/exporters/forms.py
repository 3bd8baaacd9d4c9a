"""The paper's block forms (a) and (b), made from a checked form-(c) ONNX graph.

Exporting form (a) of resnext50_32x4d through the torch exporter takes 2 to 5 minutes (512
branch modules traced one by one). The three forms are re-arrangements of the same tensors
(:mod:`resnext_bench.models.blocks`), so this module builds them from the form-(c) graph with
``onnx`` directly, in about a second: each bottleneck's chain

    Conv1x1(W1, b1) -> Relu -> Conv3x3(W2, b2, group=C) -> Relu -> Conv1x1(W3, b3) -> Add

(BatchNorm already folded into the convolutions by the exporter) becomes C branches of
``Conv1x1(W1[i], b1[i]) -> Relu -> Conv3x3(W2[i], b2[i]) -> Relu``, then

* form (b): ``Concat`` of the branches -> ``Conv1x1(W3, b3)``;
* form (a): one ``Conv1x1(W3[:, i])`` per branch (``b3`` on the first), summed by ``Sum``.

The slices are those :meth:`SplitBottleneck.from_grouped` takes, so the graph equals the torch
form-(a)/(b) module; the exporter then runs the same checks as for any export (checker, MACs and
weights equal to the torch module's, ONNX Runtime against PyTorch fp32 eager at two batch sizes).
"""

from __future__ import annotations

import numpy as np

from ..core.errors import CheckFailed

#: part of the export cache key of forms a/b: a change to the rewrite rebuilds their files
REWRITE_VERSION = 1


class FormRewriteError(CheckFailed):
    """The form-(c) graph does not have the bottleneck chains the rewrite expects."""


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _bottleneck_chains(graph) -> list[list[int]]:
    """Node indices [conv1, relu1, conv2, relu2, conv3] of the chains that end in a residual Add."""
    nodes = list(graph.node)
    consumers: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        for name in node.input:
            consumers.setdefault(name, []).append(i)

    def only_next(i, op):
        nxt = consumers.get(nodes[i].output[0], [])
        return nxt[0] if len(nxt) == 1 and nodes[nxt[0]].op_type == op else None

    def kernel(i):
        return _attrs(nodes[i]).get("kernel_shape")

    chains = []
    for c1, node in enumerate(nodes):
        if node.op_type != "Conv" or kernel(c1) != [1, 1]:
            continue
        chain = [c1]
        for op in ("Relu", "Conv", "Relu", "Conv", "Add"):
            nxt = only_next(chain[-1], op)
            if nxt is None:
                break
            chain.append(nxt)
        if len(chain) == 6 and kernel(chain[2]) == [3, 3] and kernel(chain[4]) == [1, 1]:
            chains.append(chain[:5])
    return chains


def _copy(message):
    """A detached copy (the originals belong to the repeated fields about to be cleared)."""
    new = type(message)()
    new.CopyFrom(message)
    return new


def _conv(name, inputs, output, attrs):
    import onnx

    return onnx.helper.make_node("Conv", inputs, [output], name=name, **attrs)


def split_forms(model, form: str, expected_blocks: int):
    """A copy of the form-(c) ``model`` (an ``onnx.ModelProto``) with every bottleneck in
    ``form`` ("a" or "b"). ``expected_blocks``: the arch's bottleneck count, which the graph
    must show exactly (anything else means an exporter changed the graph's shape)."""
    import onnx
    from onnx import numpy_helper

    if form not in ("a", "b"):
        raise ValueError(f"form must be 'a' or 'b', got {form!r}")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    nodes = list(graph.node)
    inits = {t.name: t for t in graph.initializer}
    chains = _bottleneck_chains(graph)
    if len(chains) != expected_blocks:
        raise FormRewriteError(f"form-c graph shows {len(chains)} bottleneck chains "
                               f"(Conv1x1-Relu-Conv3x3-Relu-Conv1x1-Add), the arch has {expected_blocks}")

    def weights(node):
        if len(node.input) < 3 or any(n not in inits for n in node.input[1:3]):
            raise FormRewriteError(f"{node.name}: weights and bias must be initializers "
                                   "(BatchNorm folded by the exporter)")
        return (numpy_helper.to_array(inits[node.input[1]]), numpy_helper.to_array(inits[node.input[2]]))

    def add_init(array: np.ndarray, name: str) -> str:
        graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    replaced, dropped = {}, set()
    for chain in chains:
        conv1, _, conv2, _, conv3 = (nodes[i] for i in chain)
        a1, a2, a3 = _attrs(conv1), _attrs(conv2), _attrs(conv3)
        if a1.get("group", 1) != 1 or a3.get("group", 1) != 1:
            raise FormRewriteError(f"{conv1.name}/{conv3.name}: 1x1 convolutions must not be grouped")
        (w1, b1), (w2, b2), (w3, b3) = weights(conv1), weights(conv2), weights(conv3)
        groups = int(a2.get("group", 1))
        width = w2.shape[0]
        if width % groups or w1.shape[0] != width or w2.shape[1] * groups != width:
            raise FormRewriteError(f"{conv2.name}: weight {w2.shape} does not fit group={groups}")
        d = width // groups
        a2_split = {**a2, "group": 1}
        w1_name = conv1.input[1]
        stem = w1_name[:-len(".conv1.weight")] if w1_name.endswith(".conv1.weight") else conv1.name
        x, y = conv1.input[0], conv3.output[0]
        new_nodes, branch_outs = [], []
        for i in range(groups):
            sl = slice(i * d, (i + 1) * d)
            p = f"{stem}.branch{i}"
            h1, r1, h2, r2 = f"{p}.conv1", f"{p}.relu1", f"{p}.conv2", f"{p}.relu2"
            new_nodes += [
                _conv(h1, [x, add_init(w1[sl], f"{p}.conv1.weight"), add_init(b1[sl], f"{p}.conv1.bias")],
                      h1, a1),
                onnx.helper.make_node("Relu", [h1], [r1], name=r1),
                _conv(h2, [r1, add_init(w2[sl], f"{p}.conv2.weight"), add_init(b2[sl], f"{p}.conv2.bias")],
                      h2, a2_split),
                onnx.helper.make_node("Relu", [h2], [r2], name=r2),
            ]
            if form == "a":
                ins = [r2, add_init(w3[:, sl], f"{p}.conv3.weight")]
                if i == 0:
                    ins.append(add_init(b3, f"{stem}.conv3.bias"))  # folded bn3 shift, once
                new_nodes.append(_conv(f"{p}.conv3", ins, f"{p}.conv3", a3))
                branch_outs.append(f"{p}.conv3")
            else:
                branch_outs.append(r2)
        if form == "a":
            new_nodes.append(onnx.helper.make_node("Sum", branch_outs, [y], name=f"{stem}.sum"))
        else:
            cat = f"{stem}.concat"
            new_nodes += [onnx.helper.make_node("Concat", branch_outs, [cat], name=cat, axis=1),
                          _conv(f"{stem}.conv3", [cat, conv3.input[1], conv3.input[2]], y, a3)]
        replaced[chain[0]] = new_nodes
        dropped |= set(chain)
    # the new nodes take conv1's place: their inputs exist there, their output is read after conv3
    rewritten = []
    for i, node in enumerate(nodes):
        if i in replaced:
            rewritten += replaced[i]
        elif i not in dropped:
            rewritten.append(_copy(node))
    still_used = {name for n in rewritten for name in n.input}
    kept = [_copy(t) for t in graph.initializer if t.name in still_used]
    del graph.node[:]
    graph.node.extend(rewritten)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return out
