"""Single-layer damage to a QDQ int8 ONNX file: what a kernel or export bug does to one layer.

Used by the layer-wise parity tests and ``benchmarks/layerwise_damage.py``. Each function takes
a ModelProto (changed in place) and a Conv node located by :func:`branch_convs` /
:func:`stem_conv`:

* :func:`reverse_scales`: the weight's per-channel scales reversed (scale i used for channel
  C-1-i: a transposed scale table);
* :func:`shift_zero_point`: the zero point of the activation DQ after the layer shifted (a Q / DQ
  pair that disagree);
* :func:`swap_groups`: two groups of a grouped conv swapped (group 0's filters computed in group
  1's output slots and back, reading their own inputs: a grouped-kernel indexing bug).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from resnext_bench.exporters.layer_taps import _CONVS, _Graph


def _init(model, name):
    return next((t for t in model.graph.initializer if t.name == name), None)


def _set(model, name, array) -> None:
    t = _init(model, name)
    t.CopyFrom(numpy_helper.from_array(array.astype(numpy_helper.to_array(t).dtype), name))


def residual_adds(g: _Graph) -> list[int]:
    return [i for i, n in enumerate(g.nodes) if n.op_type == "Add" and len(n.input) == 2
            and not any(g.is_constant(t) for t in n.input)]


def branch_convs(model, block: int) -> list:
    """The Conv nodes of block ``block``'s residual branch (conv1, conv2, conv3), in order."""
    g = _Graph(model.graph)
    node = g.nodes[residual_adds(g)[block]]
    a, b = node.input
    anc_a, anc_b = g.ancestors(a), g.ancestors(b)
    own_a = sorted(i for i in anc_a - anc_b if g.nodes[i].op_type in _CONVS)
    own_b = sorted(i for i in anc_b - anc_a if g.nodes[i].op_type in _CONVS)
    return [g.nodes[i] for i in (own_a if len(own_a) > len(own_b) else own_b)]


def stem_conv(model):
    return next(n for n in model.graph.node if n.op_type in _CONVS)


def _weight_dq(model, conv):
    g = _Graph(model.graph)
    dq = g.op(conv.input[1])
    if dq is None or dq.op_type != "DequantizeLinear":
        raise ValueError(f"{conv.name}: its weight is not a QDQ int8 weight")
    return dq


def reverse_scales(model, conv) -> str:
    dq = _weight_dq(model, conv)
    scale = numpy_helper.to_array(_init(model, dq.input[1]))
    if scale.size < 2:
        raise ValueError(f"{conv.name}: per-tensor scale, nothing to reverse")
    _set(model, dq.input[1], scale[::-1].copy())
    return f"{conv.name}: weight scales reversed"


def swap_groups(model, conv) -> str:
    group = next((a.i for a in conv.attribute if a.name == "group"), 1)
    if group < 2:
        raise ValueError(f"{conv.name}: not a grouped conv")
    dq = _weight_dq(model, conv)
    w = numpy_helper.to_array(_init(model, dq.input[0])).copy()
    k = w.shape[0] // group
    w[:k], w[k:2 * k] = w[k:2 * k].copy(), w[:k].copy()
    _set(model, dq.input[0], w)
    scale = numpy_helper.to_array(_init(model, dq.input[1])).copy()
    if scale.size == w.shape[0]:
        scale[:k], scale[k:2 * k] = scale[k:2 * k].copy(), scale[:k].copy()
        _set(model, dq.input[1], scale)
    return f"{conv.name}: groups 0 and 1 swapped (of {group})"


def shift_zero_point(model, conv, by: int = 12) -> str:
    """The DQ after the layer's output (after its Relu, if one follows) gets its own zero point,
    shifted by ``by`` steps."""
    g = _Graph(model.graph)
    t = conv.output[0]
    users = g.consumers.get(t, [])
    if len(users) == 1 and g.nodes[users[0]].op_type == "Relu":
        t = g.nodes[users[0]].output[0]
    q = next((g.nodes[i] for i in g.consumers.get(t, []) if g.nodes[i].op_type == "QuantizeLinear"), None)
    if q is None:
        raise ValueError(f"{conv.name}: no activation QuantizeLinear after it")
    dq = next(g.nodes[i] for i in g.consumers.get(q.output[0], []) if g.nodes[i].op_type == "DequantizeLinear")
    zp = numpy_helper.to_array(_init(model, dq.input[2])) if len(dq.input) > 2 and dq.input[2] else \
        np.zeros((), dtype=np.int8)
    info = np.iinfo(zp.dtype)
    shifted = np.clip(zp.astype(np.int64) + by, info.min, info.max).astype(zp.dtype)
    name = f"{dq.name or dq.output[0]}_zp_shifted"
    model.graph.initializer.append(numpy_helper.from_array(shifted, name))
    if len(dq.input) > 2:
        dq.input[2] = name
    else:
        dq.input.append(name)
    return f"{conv.name}: activation zero point shifted by {by}"


DAMAGES = {"scales_reversed": reverse_scales, "zero_point_shifted": shift_zero_point,
           "groups_swapped": swap_groups}


def damaged_copy(src, dst, damage: str, conv_of) -> str:
    """Write ``src`` with one damage to ``dst``; ``conv_of(model)`` picks the Conv node."""
    model = onnx.load(str(src))
    what = DAMAGES[damage](model, conv_of(model))
    onnx.save(model, str(dst))
    return what
