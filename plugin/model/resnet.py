"""ResNet-50 / ResNet-101 encoder (He et al., "Deep Residual Learning for Image Recognition",
CVPR 2016) as BGMv2 uses it: output stride 16, no classifier, features at every scale.

Blocks are bottlenecks (1×1 reduce → 3×3 → 1×1 expand ×4, identity or projection
shortcut) in the "v1.5" form torchvision uses: a block that halves the resolution does
so in its 3×3 conv, not in the first 1×1. BGMv2's changes to the plain network:

- the stem conv takes ``in_channels`` (6: plate and clean plate; 8 with a segmentation
  prior) instead of 3;
- ``layer4`` keeps the 1/16 resolution of ``layer3``: its first block has stride 1
  (its 3×3 conv still undilated) and the blocks after it dilate their 3×3 conv by 2,
  so the receptive field grows as if the stride were there (DeepLab's atrous trick);
- no global pooling, no fully connected layer.

Parameter names follow torchvision's ResNet (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer1.0.downsample.0`` / ``.1``, ...) so BGMv2's official ``backbone.*`` weights load.

Shapes, for an input (B, C, H, W) with H, W multiples of 16:

=========  ========  ==========  ===============================
output     channels  resolution  from
=========  ========  ==========  ===============================
x4         2048      H/16        layer4 (dilated)
x3          512      H/8         layer2
x2          256      H/4         layer1
x1           64      H/2         stem: relu(bn1(conv1(x)))
x0            C      H           the input itself
=========  ========  ==========  ===============================
"""

from __future__ import annotations

import torch
from torch import nn

# Bottleneck blocks per stage (the paper's Table 1).
DEPTHS = {"resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3)}
EXPANSION = 4  # a bottleneck's output has 4× the channels of its 3×3 conv


class Bottleneck(nn.Module):
    """(B, cin, h, w) → (B, 4·width, h/stride, w/stride).

    ``relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x))`` where the
    shortcut is the identity, or a strided 1×1 conv + BN (``downsample``) when the shape
    changes. ``dilation`` widens the 3×3 conv (padding = dilation keeps the size).
    """

    def __init__(self, cin: int, width: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        cout = width * EXPANSION
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(
            width, width, 3, stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + shortcut)


def _stage(
    cin: int, width: int, blocks: int, stride: int, dilation: int, first_dilation: int
) -> nn.Sequential:
    """``blocks`` bottlenecks; only the first may stride or project. When a stage trades its
    stride for dilation, its first block keeps the previous stage's dilation."""
    layers = [Bottleneck(cin, width, stride, first_dilation)]
    layers += [Bottleneck(width * EXPANSION, width, 1, dilation) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNetEncoder(nn.Module):
    """(B, in_channels, H, W) → x4 (B, 2048, H/16, W/16), x3 (B, 512, H/8, W/8),
    x2 (B, 256, H/4, W/4), x1 (B, 64, H/2, W/2), x0 (the input). ``variant`` is
    ``"resnet50"`` or ``"resnet101"``."""

    channels = (2048, 512, 256, 64)

    def __init__(self, in_channels: int, variant: str = "resnet50") -> None:
        super().__init__()
        if variant not in DEPTHS:
            raise ValueError(f"unknown ResNet variant {variant!r}; use one of {sorted(DEPTHS)}")
        depth = DEPTHS[variant]
        # Stem: 7×7 stride-2 conv, BN, ReLU (→ x1 at 1/2), then 3×3 stride-2 max pool.
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = _stage(64, 64, depth[0], 1, 1, 1)  # 256 ch, 1/4
        self.layer2 = _stage(256, 128, depth[1], 2, 1, 1)  # 512 ch, 1/8
        self.layer3 = _stage(512, 256, depth[2], 2, 1, 1)  # 1024 ch, 1/16
        self.layer4 = _stage(1024, 512, depth[3], 1, 2, 1)  # 2048 ch, 1/16 (dilated)
        for m in self.modules():  # He initialisation, as torchvision
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x0 = x
        x1 = self.relu(self.bn1(self.conv1(x)))  # 1/2
        x2 = self.layer1(self.maxpool(x1))  # 1/4
        x3 = self.layer2(x2)  # 1/8
        x4 = self.layer4(self.layer3(x3))  # 1/16
        return x4, x3, x2, x1, x0
