"""The regularised unmix's prior (:func:`bgmatte.plugin.foreground.prior_and_weight`) as torch
operations, for a frame on a GPU: the foreground's pull-push fill runs where the frame is, and
only the foreground comes down (issue 15, "one device end to end").

The same steps and constants as :mod:`.foreground`; OpenCV's ``pyrDown`` (5-tap binomial,
``BORDER_REFLECT_101``, the even samples) and its bilinear ``resize`` (pixel centres, edges
clamped: ``F.interpolate(..., align_corners=False)`` when enlarging) written in torch, in
float32. Tested on the CPU against :mod:`.foreground`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from bgmatte.plugin.engines.classical_torch import weighted_sum
from bgmatte.plugin.foreground import FLOOR, RELATIVE, SPREAD

Tensor = torch.Tensor

_BINOMIAL = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)


def pyr_down(x: Tensor) -> Tensor:
    """``cv2.pyrDown`` of each channel of ``x`` (C×H×W): to (H + 1) // 2 × (W + 1) // 2."""
    h, w = x.shape[1:]
    p = F.pad(x[None], (2, 2, 2, 2), mode="reflect")[0]  # reflect_101: dcb|abcd|cba
    rows = weighted_sum(_BINOMIAL, [p[:, k : k + h : 2] for k in range(5)])
    return weighted_sum(_BINOMIAL, [rows[:, :, k : k + w : 2] for k in range(5)])


def _enlarge(x: Tensor, size: Sequence[int]) -> Tensor:
    """``cv2.resize(..., INTER_LINEAR)`` of ``x`` (C×h×w) up to ``size`` (H, W)."""
    return F.interpolate(x[None], size=tuple(size), mode="bilinear", align_corners=False)[0]


def fill(premultiplied: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """:func:`.foreground.fill` of ``premultiplied`` (3×H×W, a F), ``alpha`` and ``sigma``
    (H×W): the foreground colour filled in from around each pixel (3×H×W)."""
    inv = 1.0 / (sigma * sigma)
    nums, dens = [premultiplied * (alpha * inv)], [(alpha * alpha * inv)[None]]
    while min(dens[-1].shape[1:]) > 8:
        nums.append(pyr_down(nums[-1]))
        dens.append(pyr_down(dens[-1]))
    total = dens[-1].sum()
    colour = torch.where(total > 0, nums[-1].sum((1, 2)) / total, 0.0).view(3, 1, 1)
    lam = 1.0 / SPREAD**2
    for num, den in zip(nums[:0:-1], dens[:0:-1], strict=True):
        colour = (num + lam * _enlarge(colour, den.shape[1:])) / (den + lam)
    return _enlarge(colour, alpha.shape)


def prior_and_weight(plate: Tensor, clean_plate: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
    """F_prior (3×H×W) and its weight (H×W) from ``plate``, ``clean_plate`` (3×H×W) and
    ``alpha`` (H×W), as :func:`.foreground.prior_and_weight`."""
    level = clean_plate.abs().mean(0)
    sigma = FLOOR + RELATIVE * (1.0 - alpha) * level
    premultiplied = plate - (1.0 - alpha) * clean_plate
    weight = (1.0 - alpha) * (sigma / SPREAD) ** 2
    return fill(premultiplied, alpha, sigma), weight
