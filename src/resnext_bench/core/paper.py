"""Published numbers to set beside the measurements: the ResNeXt paper and torchvision.

Sources (every number carries its own):

* Xie, Girshick, Dollár, Tu, He, "Aggregated Residual Transformations for Deep Neural Networks",
  CVPR 2017, arXiv 1611.05431 ("paper"). Table 1: params and FLOPs of ResNet-50 and ResNeXt-50
  (32x4d). Table 2: the C x d settings of ResNeXt-50 at preserved complexity; their ImageNet-1K
  top-1 errors (224 px single crop) are in Table 3, with ResNet-101 and the ResNeXt-101 settings.
  Table 4: twice ResNet-101's complexity (ResNet-200, ResNet-101 1x100d, ResNeXt-101 2x64d and
  64x4d). Table 7: CIFAR-10 test error and params of ResNeXt-29 and Wide ResNet 28-10.
  The paper's "FLOPs" are multiply-adds: they compare with this tool's MACs.
* torchvision's model documentation ("torchvision"): params and GFLOPS (also multiply-adds) of
  its ImageNet models.

The error rates are those of the trained models in the paper; this tool measures untrained
(calibrated) weights of the same architectures, so only the cost side is measured here.
"""

from __future__ import annotations

from dataclasses import dataclass

PAPER = "arXiv 1611.05431"
TORCHVISION = "torchvision model docs"


@dataclass(frozen=True)
class Published:
    """One configuration's published numbers. ``arch`` is this tool's name for it, or None when
    the grammar cannot express it (ResNet-200)."""

    label: str  # the paper's name
    arch: str | None
    dataset: str  # "ImageNet-1K" (top-1 error, 224 px single crop) or "CIFAR-10" (test error)
    top1_error: float | None = None  # percent
    error_source: str | None = None
    params_m: float | None = None  # millions
    gmacs: float | None = None  # 10^9 multiply-adds (the paper's "FLOPs")
    cost_source: str | None = None


def _in(table: str) -> str:
    return f"{PAPER} Table {table}"


PUBLISHED: tuple[Published, ...] = (
    # ImageNet-1K, ResNet-50 complexity (~4.1 G multiply-adds): Table 1 costs, Table 3 errors
    Published("ResNet-50 (1x64d)", "resnet50", "ImageNet-1K", 23.9, _in(3), 25.5, 4.1, _in(1)),
    Published("ResNeXt-50 (2x40d)", "resnext50_2x40d", "ImageNet-1K", 23.0, _in(3)),
    Published("ResNeXt-50 (4x24d)", "resnext50_4x24d", "ImageNet-1K", 22.6, _in(3)),
    Published("ResNeXt-50 (8x14d)", "resnext50_8x14d", "ImageNet-1K", 22.3, _in(3)),
    Published("ResNeXt-50 (32x4d)", "resnext50_32x4d", "ImageNet-1K", 22.2, _in(3), 25.0, 4.2, _in(1)),
    # ResNet-101 complexity (~7.8 G): Table 3
    Published("ResNet-101 (1x64d)", "resnet101", "ImageNet-1K", 22.0, _in(3)),
    Published("ResNeXt-101 (2x40d)", "resnext101_2x40d", "ImageNet-1K", 21.7, _in(3)),
    Published("ResNeXt-101 (4x24d)", "resnext101_4x24d", "ImageNet-1K", 21.4, _in(3)),
    Published("ResNeXt-101 (8x14d)", "resnext101_8x14d", "ImageNet-1K", 21.3, _in(3)),
    Published("ResNeXt-101 (32x4d)", "resnext101_32x4d", "ImageNet-1K", 21.2, _in(3)),
    # twice ResNet-101's complexity: Table 4
    Published("ResNet-200 (1x64d)", None, "ImageNet-1K", 21.7, _in(4)),
    Published("ResNet-101, wider (1x100d)", "resnext101_1x100d", "ImageNet-1K", 21.3, _in(4)),
    Published("ResNeXt-101 (2x64d)", "resnext101_2x64d", "ImageNet-1K", 20.7, _in(4)),
    Published("ResNeXt-101 (64x4d)", "resnext101_64x4d", "ImageNet-1K", 20.4, _in(4)),
    # CIFAR-10: Table 7
    Published("Wide ResNet 28-10", "wrn28_10", "CIFAR-10", 4.17, _in(7), 36.5, None, _in(7)),
    Published("ResNeXt-29 (8x64d)", "resnext29_8x64d", "CIFAR-10", 3.65, _in(7), 34.4, None, _in(7)),
    Published("ResNeXt-29 (16x64d)", "resnext29_16x64d", "CIFAR-10", 3.58, _in(7), 68.1, None, _in(7)),
)

#: torchvision's published (params, GMACs) of its ImageNet models
TORCHVISION_COST: dict[str, tuple[int, float]] = {
    "resnet50": (25_557_032, 4.089),
    "resnext50_32x4d": (25_028_904, 4.23),
    "resnext101_32x8d": (88_791_336, 16.414),
    "resnext101_64x4d": (83_455_272, 15.46),
    "wide_resnet50_2": (68_883_240, 11.398),
    "wide_resnet101_2": (126_886_696, 22.753),
}


def published_for(arch: str) -> Published | None:
    """The paper's entry for ``arch`` (this tool's canonical name), if it has one."""
    return next((p for p in PUBLISHED if p.arch == arch), None)
