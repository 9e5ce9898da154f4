"""Pixel helpers that several stages share, each in one place.

- :data:`REC709_LUMA` / :func:`luma`: luminance of linear Rec.709 RGB (ITU-R BT.709 weights),
  for a segmentation given as RGB, the alignment's features and the temporal flow;
- :data:`ALPHA_SNAP` / :func:`snap`: alpha within this of 0 or 1 becomes exactly 0 or 1, so
  the unmix does not amplify noise at near-zero alpha and solid cores are exactly solid;
- :func:`box_down`: block averaging, for estimates that want less noise and less
  sensitivity to misregistration than single pixels give.
"""

from __future__ import annotations

import cv2
import numpy as np

REC709_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
ALPHA_SNAP = 0.02


def luma(rgb: np.ndarray) -> np.ndarray:
    """H×W luminance (float32) of H×W×3 linear RGB."""
    r, g, b = REC709_LUMA
    return rgb[..., 0] * r + rgb[..., 1] * g + rgb[..., 2] * b


def snap(alpha: np.ndarray) -> np.ndarray:
    """``alpha`` with values below :data:`ALPHA_SNAP` set to 0 and above 1 - it set to 1, in
    place; returns it."""
    alpha[alpha < ALPHA_SNAP] = 0.0
    alpha[alpha > 1.0 - ALPHA_SNAP] = 1.0
    return alpha


def box_down(img: np.ndarray, factor: int) -> np.ndarray:
    """H×W×C (or H×W) → (H // factor)×(W // factor)×C by OpenCV's area filter: the mean of
    each factor×factor block where ``factor`` divides the size; where it does not, each output
    pixel averages the slightly larger area it covers (size / (size // factor) px), the pixels
    weighed by their overlap with it, so every row and column counts."""
    h, w = img.shape[:2]
    size = (w // factor, h // factor)
    small = cv2.resize(np.ascontiguousarray(img, np.float32), size, interpolation=cv2.INTER_AREA)
    return small.reshape(size[1], size[0], -1)
