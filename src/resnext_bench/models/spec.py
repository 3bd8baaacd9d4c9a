"""Architecture names -> :class:`ArchSpec`.

The name is the whole configuration of a network, so that a result row, a cache key or a CLI
argument can say exactly which net it means (timm's habit): ``resnext50_32x4d`` is ResNeXt-50
with cardinality C=32 and bottleneck width d=4. This module is pure Python (no torch) so that the
CLI can validate names without importing heavy libraries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.errors import UsageError

#: Block layout per depth of the ImageNet family (He et al. 2016, Table 1).
IMAGENET_LAYERS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
#: Stage "planes" of the ImageNet family; a bottleneck stage outputs planes * 4 channels.
IMAGENET_PLANES = (64, 128, 256, 512)
#: CIFAR ResNeXt-29 (paper Table 7): 3 stages of 3 bottleneck blocks, planes 64/128/256.
CIFAR_RESNEXT_PLANES = (64, 128, 256)
CIFAR_RESNEXT_BLOCKS = 3

GRAMMAR = (
    "resnet{18,34,50,101,152} | resnext{50,101,152}_{C}x{d}d | wide_resnet{50,101}_{k} | "
    "resnext29_{C}x{d}d (CIFAR) | wrn{depth}_{k} (CIFAR, depth=6n+4)"
)
#: The paper's three equivalent block forms: a C branches summed, b concatenated + one 1x1,
#: c one grouped conv (the default and the built form; a and b are re-arrangements of it).
FORMS = ("a", "b", "c")
#: Largest input side accepted: activation memory and MACs grow with the square of the side
#: (2048 px is 84x the pixels of 224 px), and no net of the family is trained anywhere near it.
MAX_IMAGE_SIZE = 2048
EXAMPLES = (
    "resnet50",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "wide_resnet50_2",
    "resnext29_8x64d",
    "wrn28_10",
)

_PATTERNS = [
    ("resnet", re.compile(r"resnet(\d+)")),
    ("resnext", re.compile(r"resnext(\d+)_(\d+)x(\d+)d")),
    ("wide_resnet", re.compile(r"wide_resnet(\d+)_(\d+)")),
    ("wrn", re.compile(r"wrn(\d+)_(\d+)")),
]


@dataclass(frozen=True)
class ArchSpec:
    """Everything that determines a network's graph (not its weights).

    ``cardinality`` is the paper's C, ``base_width`` its d (channels per group at planes=64,
    torchvision's ``width_per_group``); for pre-activation WRN, ``widen`` is k.
    """

    name: str
    family: str  # "imagenet" | "cifar_resnext" | "cifar_wrn"
    depth: int
    block: str  # "basic" | "bottleneck" | "preact_basic"
    layers: tuple[int, ...]
    cardinality: int = 1
    base_width: int = 64
    widen: int = 1
    num_classes: int = 1000
    default_image_size: int = 224
    dropout: float = 0.0

    @property
    def min_image_size(self) -> int:
        """Smallest input whose last feature map is at least 1x1 (total stride of the net)."""
        return 32 if self.family == "imagenet" else 4

    def resolve_image_size(self, size: int | None) -> int:
        """``size`` or the arch's default; a size the net cannot take is a :class:`UsageError`."""
        size = self.default_image_size if size is None else size
        if size > MAX_IMAGE_SIZE:
            raise UsageError(f"--image-size {size} is too large for {self.name} (maximum "
                             f"{MAX_IMAGE_SIZE}: activation memory and MACs grow with the square of "
                             f"the side, {size * size / 224 ** 2:.0f}x those at 224 px)")
        if size < self.min_image_size:
            raise UsageError(f"--image-size {size} is too small for {self.name} "
                             f"(minimum {self.min_image_size}: the net downsamples by that much)")
        return size

    def stage_widths(self) -> list[dict]:
        """Per stage: bottleneck (inner) width, output channels, blocks and stride.

        Inner width follows torchvision's rule ``int(planes * d / 64) * C`` which reproduces the
        paper's Table 2 (ResNeXt-50 32x4d: 128/256/512/1024 inner, 256/512/1024/2048 out).
        """
        out = []
        if self.family == "cifar_wrn":
            for i, w in enumerate((16, 32, 64)):
                out.append(
                    dict(stage=i + 1, inner=w * self.widen, out=w * self.widen,
                         blocks=self.layers[i], stride=1 if i == 0 else 2)
                )
            return out
        planes_list = CIFAR_RESNEXT_PLANES if self.family == "cifar_resnext" else IMAGENET_PLANES
        for i, planes in enumerate(planes_list):
            if self.block == "basic":
                inner, outc = planes, planes
            else:
                inner = int(planes * self.base_width / 64) * self.cardinality
                outc = planes * 4
            out.append(dict(stage=i + 1, inner=inner, out=outc, blocks=self.layers[i],
                            stride=1 if i == 0 else 2))
        return out


def _bad(name: str, why: str) -> UsageError:
    return UsageError(f"bad arch name {name!r}: {why}; grammar: {GRAMMAR}")


def _positive(name: str, value: str, what: str) -> int:
    n = int(value)
    if n < 1:
        raise _bad(name, f"{what} must be >= 1, got {n}")
    return n


def parse_arch(name: str, *, num_classes: int | None = None, dropout: float = 0.0) -> ArchSpec:
    """Parse an architecture name of the grammar :data:`GRAMMAR` into an :class:`ArchSpec`.

    Raises :class:`UsageError` with the grammar in the message for anything else.
    """
    raw = name
    name = name.strip().lower()
    kind, m = None, None
    for k, pattern in _PATTERNS:
        m = pattern.fullmatch(name)
        if m:
            kind = k
            break
    if m is None:
        raise _bad(raw, "unknown name")
    depth = int(m.group(1))

    if kind == "resnet":
        if depth not in IMAGENET_LAYERS:
            raise _bad(raw, f"unsupported resnet depth {depth} (use 18, 34, 50, 101, 152)")
        block, layers = IMAGENET_LAYERS[depth]
        return ArchSpec(name, "imagenet", depth, block, layers,
                        num_classes=num_classes or 1000)

    if kind == "wide_resnet":
        if depth not in (50, 101):
            raise _bad(raw, f"unsupported wide_resnet depth {depth} (use 50 or 101)")
        k = _positive(raw, m.group(2), "widen factor k")
        return ArchSpec(name, "imagenet", depth, "bottleneck", IMAGENET_LAYERS[depth][1],
                        cardinality=1, base_width=64 * k, widen=k,
                        num_classes=num_classes or 1000)

    if kind == "wrn":
        k = _positive(raw, m.group(2), "widen factor k")
        if depth < 10 or (depth - 4) % 6:
            raise _bad(raw, f"WRN depth must be 6n+4 with n >= 1 (10, 16, 22, 28, 40, ...), got {depth}")
        n = (depth - 4) // 6
        if not 0.0 <= dropout < 1.0:
            raise UsageError(f"dropout must be in [0, 1), got {dropout}")
        return ArchSpec(name, "cifar_wrn", depth, "preact_basic", (n, n, n), widen=k,
                        num_classes=num_classes or 10, default_image_size=32, dropout=dropout)

    # resnext
    c = _positive(raw, m.group(2), "cardinality C")
    d = _positive(raw, m.group(3), "bottleneck width d")
    if depth == 29:
        spec = ArchSpec(name, "cifar_resnext", 29, "bottleneck", (CIFAR_RESNEXT_BLOCKS,) * 3,
                        cardinality=c, base_width=d, num_classes=num_classes or 10,
                        default_image_size=32)
        _check_buildable(raw, spec)
        return spec
    if depth not in (50, 101, 152):
        raise _bad(raw, f"unsupported resnext depth {depth} (use 50, 101, 152, or 29 for CIFAR)")
    spec = ArchSpec(name, "imagenet", depth, "bottleneck", IMAGENET_LAYERS[depth][1],
                    cardinality=c, base_width=d, num_classes=num_classes or 1000)
    if any(s["inner"] == 0 for s in spec.stage_widths()):
        raise _bad(raw, f"d={d} gives a zero-width bottleneck in stage 1 (int(64*d/64)*C)")
    _check_buildable(raw, spec)
    return spec


#: widest grouped conv (C x d channels in the last stage) a spec may ask for: 64x the widest
#: published ResNeXt's (ResNeXt-101 64x4d: 2048); beyond it the tensors alone overflow memory
MAX_INNER_WIDTH = 131072


def _check_buildable(raw: str, spec: ArchSpec) -> None:
    widest = max(s["inner"] for s in spec.stage_widths())
    if widest > MAX_INNER_WIDTH:
        raise _bad(raw, f"C x d gives a {widest:,}-channel grouped conv (at most "
                        f"{MAX_INNER_WIDTH:,}): too large to build")


def parse_arch_list(text: str) -> list[ArchSpec]:
    """``"resnet50,resnext50_32x4d"`` -> specs; every name is validated before any work starts."""
    names = [t for t in (s.strip() for s in text.split(",")) if t]
    if not names:
        raise UsageError(f"no arch given; grammar: {GRAMMAR}")
    return [parse_arch(n) for n in names]
