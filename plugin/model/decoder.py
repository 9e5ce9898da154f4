"""The base network: encoder → ASPP → decoder, at reduced resolution (BGMv2 §3.1).

ASPP is DeepLabv3's atrous spatial pyramid pooling (Chen et al., 2017) with rates 3, 6, 9;
the decoder upsamples through the encoder's skip features back to the input resolution.
Parameter names follow BGMv2 (``aspp.convs.N``, ``decoder.convK``) so its weights load.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _cbr(cin: int, cout: int, k: int, dilation: int = 1) -> list[nn.Module]:
    pad = dilation if k == 3 else 0
    return [
        nn.Conv2d(cin, cout, k, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class ASPPPooling(nn.Sequential):
    """Image-level features: global average → 1×1 conv → broadcast back."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), *_cbr(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        for module in self:
            x = module(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """(B, cin, h, w) → (B, cout, h, w): 1×1, three dilated 3×3 and a pooled branch."""

    def __init__(self, cin: int, rates: tuple[int, ...] = (3, 6, 9), cout: int = 256) -> None:
        super().__init__()
        branches: list[nn.Module] = [nn.Sequential(*_cbr(cin, cout, 1))]
        branches += [nn.Sequential(*_cbr(cin, cout, 3, r)) for r in rates]
        branches.append(ASPPPooling(cin, cout))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(*_cbr(len(branches) * cout, cout, 1), nn.Dropout(0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([b(x) for b in self.convs], dim=1))


class Decoder(nn.Module):
    """x4 (1/16) → x (1/1): upsample, concatenate the skip feature, 3×3 conv, four times."""

    def __init__(self, channels: tuple[int, ...], feature_channels: tuple[int, ...]) -> None:
        super().__init__()
        c, f = channels, feature_channels
        self.conv1 = nn.Conv2d(f[0] + c[0], c[1], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c[1])
        self.conv2 = nn.Conv2d(f[1] + c[1], c[2], 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c[2])
        self.conv3 = nn.Conv2d(f[2] + c[2], c[3], 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(c[3])
        self.conv4 = nn.Conv2d(f[3] + c[3], c[4], 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x4: torch.Tensor, *skips: torch.Tensor) -> torch.Tensor:
        x3, x2, x1, x0 = skips
        x = x4
        for skip, conv, bn in (
            (x3, self.conv1, self.bn1),
            (x2, self.conv2, self.bn2),
            (x1, self.conv3, self.bn3),
        ):
            x = F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=False)
            x = self.relu(bn(conv(torch.cat([x, skip], dim=1))))
        x = F.interpolate(x, size=x0.shape[2:], mode="bilinear", align_corners=False)
        return self.conv4(torch.cat([x, x0], dim=1))
