"""The three network templates: ImageNet ResNet/ResNeXt/Wide-ResNet, CIFAR ResNeXt-29, CIFAR WRN.

All follow the paper's template rules: blocks in a stage share hyper-parameters, each
downsampling doubles the width, stride 2 sits in the first block of a stage (in the 3x3 conv of
a bottleneck: ResNet v1.5, as torchvision).
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import BasicBlock, Bottleneck, PreActBlock
from .spec import ArchSpec, CIFAR_RESNEXT_PLANES, IMAGENET_PLANES


def drop_path_rates(total_blocks: int, drop_path_rate: float) -> list[float]:
    """Linear decay rule of stochastic depth: block l of L keeps its branch with
    ``p_l = 1 - l/L * (1 - p_L)``, i.e. drops it with ``l/L * drop_path_rate`` where
    ``drop_path_rate = 1 - p_L``."""
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}")
    return [drop_path_rate * (i + 1) / total_blocks for i in range(total_blocks)]


def init_weights(net: nn.Module) -> None:
    """torchvision's init: Kaiming-normal (fan_out) convs, BN gamma=1 beta=0 (Linear: default)."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class _StagedNet(nn.Module):
    """Shared stage builder for the ImageNet and CIFAR bottleneck nets."""

    def _make_layer(self, block, planes, blocks, stride, groups, base_width, dp_rates):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, groups, base_width,
                        drop_path=dp_rates[0])]
        self.inplanes = planes * block.expansion
        for i in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=groups, base_width=base_width,
                                drop_path=dp_rates[i]))
        return nn.Sequential(*layers)

    def _build_stages(self, spec: ArchSpec, planes_list, block, drop_path_rate):
        rates = drop_path_rates(sum(spec.layers), drop_path_rate)
        start = 0
        for i, (planes, n) in enumerate(zip(planes_list, spec.layers)):
            layer = self._make_layer(block, planes, n, 1 if i == 0 else 2, spec.cardinality,
                                     spec.base_width, rates[start:start + n])
            setattr(self, f"layer{i + 1}", layer)
            start += n



class ResNet(_StagedNet):
    """ImageNet ResNet / ResNeXt / Wide ResNet with torchvision's module names."""

    def __init__(self, spec: ArchSpec, drop_path_rate: float = 0.0):
        super().__init__()
        block = BasicBlock if spec.block == "basic" else Bottleneck
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self._build_stages(spec, IMAGENET_PLANES, block, drop_path_rate)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, spec.num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


class CifarResNeXt(_StagedNet):
    """ResNeXt-29 for 32x32 inputs (paper Sec. 5.3, Table 7): 3x3 stem with 64 channels, three
    stages of three bottleneck blocks (planes 64/128/256, outputs 256/512/1024), global pool."""

    def __init__(self, spec: ArchSpec, drop_path_rate: float = 0.0):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self._build_stages(spec, CIFAR_RESNEXT_PLANES, Bottleneck, drop_path_rate)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(CIFAR_RESNEXT_PLANES[-1] * Bottleneck.expansion, spec.num_classes)
        init_weights(self)

    def forward_features(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x):
        return self.fc(self.forward_features(x))


class WideResNet(nn.Module):
    """CIFAR pre-activation Wide ResNet WRN-depth-k (depth = 6n+4): 16 -> 16k/32k/64k."""

    def __init__(self, spec: ArchSpec, drop_path_rate: float = 0.0):
        super().__init__()
        k, n = spec.widen, spec.layers[0]
        widths = (16 * k, 32 * k, 64 * k)
        rates = drop_path_rates(3 * n, drop_path_rate)
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        cin = 16
        for s, w in enumerate(widths):
            blocks = []
            for b in range(n):
                blocks.append(PreActBlock(cin, w, stride=(2 if s > 0 and b == 0 else 1),
                                          dropout=spec.dropout, drop_path=rates[s * n + b]))
                cin = w
            setattr(self, f"block{s + 1}", nn.Sequential(*blocks))
        self.bn = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, spec.num_classes)
        init_weights(self)

    def forward_features(self, x):
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        return torch.flatten(self.avgpool(self.relu(self.bn(x))), 1)

    def forward(self, x):
        return self.fc(self.forward_features(x))


def build_module(spec: ArchSpec, drop_path_rate: float = 0.0) -> nn.Module:
    """Randomly initialised module for ``spec`` (grouped form c). Seed the RNG before calling."""
    cls = {"imagenet": ResNet, "cifar_resnext": CifarResNeXt, "cifar_wrn": WideResNet}[spec.family]
    return cls(spec, drop_path_rate)
