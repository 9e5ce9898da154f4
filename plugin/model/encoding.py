"""The HDR-safe, invertible transfer between scene-linear light and what the network sees.

``encode(x) = asinh(x / s) / asinh(1 / s)`` with ``s = 0.05``. Why this curve:
- defined and strictly increasing on all reals, so negative noise and values far above 1.0
  pass through (a highlight at 16 maps to about 1.75) and nothing is clipped;
- linear near zero, so sensor noise in the shadows keeps its Gaussian shape;
- logarithmic above ``s``, so equal ratios (exposure steps) are equal distances, as in
  camera log curves, and 1.0 maps to 1.0, so the [0, 1] range carries most of the image;
- exactly invertible (``decode``), though the product never needs it: the final foreground
  comes from the linear unmix in :mod:`bgmatte.kernels`, not from the network.
"""

from __future__ import annotations

import math

import torch

SCALE = 0.05
_NORM = math.asinh(1.0 / SCALE)
_INV_SCALE, _INV_NORM = 1.0 / SCALE, 1.0 / _NORM


def encode(linear: torch.Tensor) -> torch.Tensor:
    """Scene-linear → network space."""
    return torch.asinh(linear * _INV_SCALE).mul_(_INV_NORM)


def decode(encoded: torch.Tensor) -> torch.Tensor:
    """Network space → scene-linear (the exact inverse of :func:`encode`)."""
    return torch.sinh(encoded * _NORM) * SCALE
