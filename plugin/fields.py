"""Smooth fields on the set, solved coarse from scattered observations: the tools the shadow
(:mod:`.shadow`) and light (:mod:`.light`) passes share.

A cast shadow and an added glow are smooth, so both are solved on the pair block-averaged to
a few hundred px (:func:`coarse`), where sensor noise is averaged down, from the pixels that
observe them, by normalised convolution (:func:`fill`; Knutsson and Westin, CVPR 1993), and
upsampled (:func:`up`). :func:`broad` keeps the observations that are not isolated,
:func:`roughness` tells a smooth field from the set's or the
subject's texture; :func:`box` bounds the part of the frame a field touches.
"""

from __future__ import annotations

import cv2
import numpy as np

from bgmatte.plugin.pixels import box_down, luma

EPS = 1e-4
SIGMA = 2.0  # solving-resolution px: the normalised convolution's reach
DENSITY_SIGMA = 1.5  # solving-resolution px: the neighbourhood a broad field's pixel needs
DENSITY = 0.4  # the share of that neighbourhood that must read as the field too

Box = tuple[int, int, int, int]  # y0, y1, x0, x1: the part of the frame a field may touch


def box(field: np.ndarray, factor: int, h: int, w: int) -> Box:
    """The full-resolution box around a low-resolution field's non-zero pixels, with a
    margin for the upsampling's reach."""
    rows, cols = np.flatnonzero(field.any(axis=(1, 2))), np.flatnonzero(field.any(axis=(0, 2)))
    m = 2 * factor
    return (max(0, rows[0] * factor - m), min(h, (rows[-1] + 1) * factor + m),
            max(0, cols[0] * factor - m), min(w, (cols[-1] + 1) * factor + m))  # fmt: skip


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)


def broad(mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` most of whose neighbourhood (:data:`DENSITY` of a Gaussian of
    :data:`DENSITY_SIGMA`) is in ``mask`` too: a shadow or a glow is broad, while a soft edge
    or scattered blocks of a textured set that read as one are not."""
    return mask & (blur(mask.astype(np.float32), DENSITY_SIGMA) > DENSITY)


def fill(obs: np.ndarray, known: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    """Normalised convolution: ``obs`` (h×w, or each channel of h×w×k) averaged under a
    Gaussian of ``sigma`` over the ``known`` pixels around it; 0 where none is near. What lies
    beside the known pixels (the subject, say) does not leak in."""
    weight = known.astype(np.float32)
    den = blur(weight, sigma)
    if obs.ndim == 2:
        num = blur(obs * weight, sigma)
    else:
        num = np.stack([blur(obs[..., k] * weight, sigma) for k in range(obs.shape[2])], axis=2)
        den = den[..., None]
    return np.where(den > 1e-3, num / np.maximum(den, 1e-3), 0.0).astype(np.float32)


def up(x: np.ndarray, w: int, h: int) -> np.ndarray:
    """A coarse field resized (bilinear) to the frame's ``w``×``h``."""
    if x.shape[:2] == (h, w):
        return x
    return cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR)


def coarse(
    plate: np.ndarray, clean_plate: np.ndarray, long_side: int
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, float]:
    """The pair block-averaged to about ``long_side`` px on the long side: the factor, the
    plate, the clean plate, its luminance and the floor below which it is too dark to
    measure a ratio on."""
    h, w = plate.shape[:2]
    factor = max(1, round(max(h, w) / long_side))
    p = box_down(plate, factor) if factor > 1 else plate.astype(np.float32)
    c = box_down(clean_plate, factor) if factor > 1 else clean_plate.astype(np.float32)
    lum_c = luma(c)
    return factor, p, c, lum_c, max(float(np.percentile(lum_c, 2)), EPS)


def log_ratio(p: np.ndarray, c: np.ndarray) -> np.ndarray:
    """log(plate / clean plate) per channel, both floored at :data:`EPS`."""
    return np.log(np.maximum(p, EPS)) - np.log(np.maximum(c, EPS))


def local_std(x: np.ndarray, on: np.ndarray) -> np.ndarray:
    """How much ``x`` varies around each pixel (its standard deviation under a σ = 1 blur),
    over the pixels ``on`` only (what lies beside them does not count)."""
    local = fill(x, on, 1.0)
    return np.sqrt(np.maximum(fill(x * x, on, 1.0) - local * local, 0.0))


def roughness(x: np.ndarray, on: np.ndarray) -> np.ndarray:
    """How much ``x`` varies around each pixel beyond a smooth trend, over the pixels ``on``
    only: the RMS, under a σ = 1 blur, of what a σ = 1 blur leaves out. A glow's slope passes;
    texture and edges do not, nor does the subject beside the set (off ``on``), which would
    otherwise make the glow's brightest pixels, those next to it, read as rough."""
    fine = np.where(on, x - fill(x, on, 1.0), 0.0).astype(np.float32)
    return np.sqrt(np.maximum(fill(fine * fine, on, 1.0), 0.0))
