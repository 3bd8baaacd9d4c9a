"""``resnext-bench info``: complexity of an arch without building real weights.

The module is built on torch's ``meta`` device (shapes only, no memory, no init cost), which is
enough for parameter counts and FlopCounterMode.
"""

from __future__ import annotations

from .spec import parse_arch


def arch_info(arch: str, image_size: int | None = None) -> dict:
    import dataclasses

    import torch

    from ..core.complexity import torch_complexity
    from ..core.paper import TORCHVISION, TORCHVISION_COST, published_for
    from .nets import build_module

    spec = parse_arch(arch)
    size = spec.resolve_image_size(image_size)
    with torch.device("meta"):
        model = build_module(spec).eval()
        cx = torch_complexity(model, size)
    return {
        "arch": spec.name, "family": spec.family, "depth": spec.depth,
        "cardinality": spec.cardinality, "width": spec.base_width, "widen": spec.widen,
        "num_classes": spec.num_classes, "image_size": size,
        "params": cx.params, "macs": cx.macs, "flops": cx.flops, "gmacs": cx.macs / 1e9,
        "flops_convention": "flops = 2 * macs; macs count Conv and Linear multiply-accumulates",
        "stages": spec.stage_widths(),
        "published": dataclasses.asdict(pub) if (pub := published_for(spec.name)) else None,
        "torchvision": ({"params": TORCHVISION_COST[spec.name][0], "gmacs": TORCHVISION_COST[spec.name][1],
                         "source": TORCHVISION} if spec.name in TORCHVISION_COST else None),
    }
