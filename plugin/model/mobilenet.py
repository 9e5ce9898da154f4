"""MobileNetV2 encoder (Sandler et al., CVPR 2018) as BGMv2 uses it: output stride 16
(dilation in the last blocks), the 1280-channel head removed, features at 1/1, 1/2, 1/4,
1/8 and 1/16 returned for the decoder.

Parameter names follow torchvision's MobileNetV2 (``features.N.conv.M...``), so BGMv2's
official ``backbone.*`` weights load as they are. ``width`` scales the channels (as the
paper's width multiplier) for the smaller models we train ourselves.
"""

from __future__ import annotations

import torch
from torch import nn

# (expansion t, channels c, repeats n, first stride s), from the paper's Table 2.
_BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def divisible(value: float, divisor: int = 8) -> int:
    """torchvision's rounding of scaled channel counts."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


class ConvBNReLU(nn.Sequential):
    """Conv → BatchNorm → ReLU6 (indices 0, 1, 2 as in torchvision)."""

    def __init__(
        self, cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1, dilation: int = 1
    ) -> None:
        pad = (k - 1) // 2 * dilation
        super().__init__(
            nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """Expand (1×1) → depthwise (3×3) → project (1×1), residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int, dilation: int = 1) -> None:
        super().__init__()
        hidden = round(cin * expand)
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNReLU(cin, hidden, k=1))
        layers += [
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden, dilation=dilation),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2Encoder(nn.Module):
    """(B, in_channels, H, W) → x4 (1/16), x3 (1/8), x2 (1/4), x1 (1/2), x0 (the input)."""

    def __init__(self, in_channels: int, width: float = 1.0) -> None:
        super().__init__()
        cin = divisible(32 * width)
        layers: list[nn.Module] = [ConvBNReLU(in_channels, cin, stride=2)]
        # Output stride 16, as BGMv2: block 14 loses its stride, blocks 15+ dilate by 2.
        for t, c, n, s in _BLOCKS:
            cout = divisible(c * width)
            for i in range(n):
                number = len(layers)
                stride = 1 if number == 14 else (s if i == 0 else 1)
                dilation = 2 if number >= 15 else 1
                layers.append(InvertedResidual(cin, cout, stride, t, dilation))
                cin = cout
        self.features = nn.Sequential(*layers)
        self.channels = (cin, divisible(32 * width), divisible(24 * width), divisible(16 * width))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x0 = x
        x = self.features[1](self.features[0](x))
        x1 = x  # 1/2
        x = self.features[3](self.features[2](x))
        x2 = x  # 1/4
        for i in range(4, 7):
            x = self.features[i](x)
        x3 = x  # 1/8
        for i in range(7, 18):
            x = self.features[i](x)
        return x, x3, x2, x1, x0  # x4 at 1/16
