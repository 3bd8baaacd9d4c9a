"""Residual blocks: torchvision-named basic and bottleneck blocks, the paper's split forms, WRN.

Module attribute names (``conv1``, ``bn1``, ``conv2``, ``downsample.0`` ...) match torchvision's
so that its checkpoints load unchanged into the grouped form (c).

The ResNeXt paper (Fig. 3) gives three equivalent forms of the aggregated transformation
``y = x + sum_i T_i(x)``:

* (a) C branches ``1x1 -> 3x3 -> 1x1`` whose outputs are summed;
* (b) C branches ``1x1 -> 3x3`` whose outputs are concatenated, then one ``1x1``;
* (c) one ``1x1`` to width C*d, a grouped ``3x3`` with ``groups=C``, one ``1x1``.

:class:`SplitBottleneck` implements (a) and (b) and is built *from* a grouped
:class:`Bottleneck` by slicing its tensors, so the three forms compute the same function from the
same weights (up to float summation order). BatchNorm is per channel, so ``bn1``/``bn2`` split
exactly into per-branch BNs; ``bn3`` acts on the aggregated sum and stays after it.
"""

from __future__ import annotations

import torch
from torch import nn


class DropPath(nn.Module):
    """Stochastic depth on a residual branch (Huang et al. 2016), inverted scaling.

    In training the branch is dropped per sample with probability ``drop_prob`` and scaled by
    ``1/keep`` when kept, so that inference uses the full, unscaled network: in eval mode this
    module is the identity, and exported graphs contain no random op.
    """

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0.0:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}"


def conv3x3(cin: int, cout: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """ResNet-18/34 block: 3x3 -> 3x3, post-activation (torchvision names)."""

    expansion = 1

    def __init__(self, cin, planes, stride=1, downsample=None, groups=1, base_width=64,
                 drop_path=0.0):
        super().__init__()
        self.conv1 = conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(self.drop_path(out) + identity)


class Bottleneck(nn.Module):
    """Bottleneck block, form (c): 1x1 -> grouped 3x3 (groups=C, stride here: ResNet v1.5) -> 1x1.

    Inner width ``int(planes * base_width / 64) * groups`` (torchvision's rule).
    """

    expansion = 4

    def __init__(self, cin, planes, stride=1, downsample=None, groups=1, base_width=64,
                 drop_path=0.0):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(cin, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(self.drop_path(out) + identity)


def _copy_bn_slice(dst: nn.BatchNorm2d, src: nn.BatchNorm2d, sl: slice) -> None:
    dst.weight.data.copy_(src.weight.data[sl])
    dst.bias.data.copy_(src.bias.data[sl])
    dst.running_mean.copy_(src.running_mean[sl])
    dst.running_var.copy_(src.running_var[sl])
    dst.num_batches_tracked.copy_(src.num_batches_tracked)
    dst.eps, dst.momentum = src.eps, src.momentum


class SplitBottleneck(nn.Module):
    """Bottleneck in the paper's form (a) (branches summed) or (b) (concatenated, one 1x1).

    Build it with :meth:`from_grouped`; its parameters are a re-arrangement of the grouped
    block's, so the parameter count is identical.
    """

    def __init__(self, form: str, cin: int, width: int, groups: int, cout: int, stride: int):
        super().__init__()
        if form not in ("a", "b"):
            raise ValueError(f"form must be 'a' or 'b', got {form!r}")
        if width % groups:
            raise ValueError(f"width {width} not divisible by cardinality {groups}")
        self.form = form
        d = width // groups
        self.branches = nn.ModuleList(
            nn.Sequential(
                conv1x1(cin, d), nn.BatchNorm2d(d), nn.ReLU(inplace=True),
                conv3x3(d, d, stride), nn.BatchNorm2d(d), nn.ReLU(inplace=True),
            )
            for _ in range(groups)
        )
        if form == "a":
            self.conv3 = nn.ModuleList(conv1x1(d, cout) for _ in range(groups))
        else:
            self.conv3 = conv1x1(width, cout)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        self.drop_path = DropPath(0.0)

    @classmethod
    @torch.no_grad()
    def from_grouped(cls, block: Bottleneck, form: str) -> "SplitBottleneck":
        groups = block.conv2.groups
        width = block.conv2.out_channels
        d = width // groups
        new = cls(form, block.conv1.in_channels, width, groups, block.conv3.out_channels,
                  block.conv2.stride[0])
        for i, br in enumerate(new.branches):
            sl = slice(i * d, (i + 1) * d)
            br[0].weight.copy_(block.conv1.weight[sl])
            _copy_bn_slice(br[1], block.bn1, sl)
            # grouped conv weight is [C*d, d, 3, 3]: output slice i reads input group i.
            br[3].weight.copy_(block.conv2.weight[sl])
            _copy_bn_slice(br[4], block.bn2, sl)
            if form == "a":
                new.conv3[i].weight.copy_(block.conv3.weight[:, sl])
        if form == "b":
            new.conv3.weight.copy_(block.conv3.weight)
        new.bn3.load_state_dict(block.bn3.state_dict())
        new.downsample = block.downsample
        new.drop_path = block.drop_path
        return new.train(block.training)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        if self.form == "a":
            out = self.conv3[0](self.branches[0](x))
            for branch, proj in zip(self.branches[1:], self.conv3[1:]):
                out = out + proj(branch(x))
        else:
            out = self.conv3(torch.cat([branch(x) for branch in self.branches], dim=1))
        out = self.bn3(out)
        return self.relu(self.drop_path(out) + identity)


class PreActBlock(nn.Module):
    """Wide ResNet block (Zagoruyko & Komodakis 2016): BN-ReLU-conv3x3-(Dropout)-BN-ReLU-conv3x3.

    When the shape changes, the 1x1 projection shortcut reads the pre-activated input, as in the
    authors' code.
    """

    def __init__(self, cin, cout, stride=1, dropout=0.0, drop_path=0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=False)
        self.conv1 = conv3x3(cin, cout, stride)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = conv3x3(cout, cout)
        self.shortcut = None if (cin == cout and stride == 1) else conv1x1(cin, cout, stride)
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        pre = self.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn2(self.dropout(out))))
        return self.drop_path(out) + identity
