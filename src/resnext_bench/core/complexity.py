"""Parameters and multiply-accumulates, counted from the torch module and from the ONNX graph.

Convention (the paper's and torchvision's): "FLOPs" in the paper are multiply-adds, so this tool
reports ``macs`` (multiply-accumulates of Conv and Gemm/MatMul/Linear, the layers that dominate;
BatchNorm, ReLU, pooling and additions are not counted) and ``flops = 2 * macs``. Counting both
the module and the exported graph, and requiring them to agree, catches an export that changed
the network.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Complexity:
    params: int
    macs: int
    image_size: int
    weight_params: int = 0  # Conv weights + Gemm/MatMul weights and bias: invariant to BN folding

    @property
    def flops(self) -> int:
        return 2 * self.macs


def torch_complexity(model, image_size: int) -> Complexity:
    """Count with torch's own FlopCounterMode on one image (batch 1)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from torch import nn

    params = sum(p.numel() for p in model.parameters())
    weight_params = sum(m.weight.numel() + (m.bias.numel() if isinstance(m, nn.Linear) and m.bias is not None else 0)
                        for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        device = next(model.parameters()).device
        model(torch.zeros(1, 3, image_size, image_size, device=device))
    return Complexity(params=params, macs=counter.get_total_flops() // 2, image_size=image_size,
                      weight_params=weight_params)


def _dims(value_info) -> list[int | None]:
    return [d.dim_value if d.HasField("dim_value") else None
            for d in value_info.type.tensor_type.shape.dim]


def onnx_complexity(model_or_path, image_size: int | None = None) -> Complexity:
    """Count params (float initializers) and MACs of Conv / Gemm / MatMul from the graph itself,
    per image. Shapes come from ONNX shape inference with a dynamic batch axis fixed to 1."""
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(model_or_path)) if not isinstance(model_or_path, onnx.ModelProto) \
        else model_or_path
    model = onnx.ModelProto.FromString(model.SerializeToString())  # do not mutate the caller's
    graph = model.graph
    inp = graph.input[0]
    batch = 1  # a static batch N is kept and the counts divided by N: MACs are per image
    for i, dim in enumerate(inp.type.tensor_type.shape.dim):
        if i == 0 and dim.HasField("dim_value"):
            batch = dim.dim_value
            continue
        if i == 0 or not dim.HasField("dim_value"):
            if i >= 2 and image_size is None:
                raise ValueError("graph has symbolic spatial dims; pass image_size")
            value = 1 if i == 0 else (3 if i == 1 else image_size)
            dim.Clear()
            dim.dim_value = value
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    shapes = {vi.name: _dims(vi) for vi in list(inferred.graph.value_info)
              + list(inferred.graph.input) + list(inferred.graph.output)}
    init_names = {t.name for t in graph.initializer}
    for t in graph.initializer:
        shapes[t.name] = list(t.dims)
    params = 0
    for t in graph.initializer:
        if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16,
                           onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE):
            n = 1
            for d in t.dims:
                n *= d
            params += n
    def numel(name):
        n = 1
        for d in shapes[name]:
            n *= d
        return n

    macs = 0
    weight_inputs = set()
    for node in inferred.graph.node:
        if node.op_type == "Conv":
            weight_inputs.add(node.input[1])
        elif node.op_type in ("Gemm", "MatMul"):
            weight_inputs.update(node.input[1:3])
        if node.op_type == "Conv":
            w = shapes.get(node.input[1])
            out = shapes.get(node.output[0])
            if not w or not out or None in out:
                raise ValueError(f"cannot infer shapes for Conv {node.name}")
            # weight [Cout, Cin/groups, kh, kw]; each output element costs Cin/groups*kh*kw MACs
            per_out = 1
            for d in w[1:]:
                per_out *= d
            n_out = 1
            for d in out:
                n_out *= d
            macs += n_out * per_out
        elif node.op_type in ("Gemm", "MatMul"):
            a, b = shapes.get(node.input[0]), shapes.get(node.input[1])
            out = shapes.get(node.output[0])
            if not a or not b or not out or None in out:
                raise ValueError(f"cannot infer shapes for {node.op_type} {node.name}")
            k = a[-1]
            if node.op_type == "Gemm":
                trans_a = next((x.i for x in node.attribute if x.name == "transA"), 0)
                k = a[0] if trans_a else a[-1]
            n_out = 1
            for d in out:
                n_out *= d
            macs += n_out * k
    weight_params = sum(numel(n) for n in weight_inputs if n in init_names)
    size = image_size if image_size is not None else _dims(graph.input[0])[-1]
    return Complexity(params=params, macs=macs // batch, image_size=size,
                      weight_params=weight_params)
