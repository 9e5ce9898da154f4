"""Alpha-matte error measures of Rhemann et al., "A Perceptually Motivated Online Benchmark
for Image Matting" (CVPR 2009), over the whole image (background matting has no trimap).

All take alpha in [0, 1] (predictions are clipped) and return alphamatting.com units.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import ndimage


def sad(pred: np.ndarray, true: np.ndarray) -> float:
    """Sum of absolute differences / 1000."""
    return float(np.abs(np.clip(pred, 0, 1) - true).sum() / 1000.0)


#: Bins of the true alpha for :func:`sad_by_alpha`: background, the soft range, solid.
ALPHA_BINS: tuple[float, ...] = (0.0, 1e-6, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 1.0 - 1e-6, 1.0)


def sad_by_alpha(
    pred: np.ndarray, true: np.ndarray, edges: tuple[float, ...] = ALPHA_BINS
) -> list[tuple[float, float, float, float, float]]:
    """Where the SAD comes from: per bin [lo, hi) of the true alpha (the last bin includes
    1), (lo, hi, fraction of pixels, SAD of over-estimates, SAD of under-estimates). The
    over and under parts of all bins add up to :func:`sad`."""
    err = np.clip(pred, 0, 1).astype(np.float64) - true
    rows = []
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        last = i == len(edges) - 2
        sel = (true >= lo) & ((true <= hi) if last else (true < hi))
        e = err[sel]
        over, under = e[e > 0].sum() / 1000.0, abs(e[e < 0].sum()) / 1000.0  # no -0.0
        rows.append((lo, hi, float(sel.mean()), float(over), float(under)))
    return rows


def mse(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean squared error × 1000."""
    return float(np.mean((np.clip(pred, 0, 1).astype(np.float64) - true) ** 2) * 1000.0)


def foreground_mse(pred: np.ndarray, true: np.ndarray, true_alpha: np.ndarray) -> float:
    """Mean squared error × 1000 of the unpremultiplied foreground colour, over the pixels
    where the true alpha is above 0 (as ../shared/bench scores it): where any of the subject
    shows, its colour counts, however faint."""
    inside = true_alpha > 0
    if not inside.any():
        return float("nan")
    d = pred[inside].astype(np.float64) - true[inside]
    return float(np.mean(d * d) * 1000.0)


def _gauss_derivative_filters(sigma: float = 1.4) -> tuple[np.ndarray, np.ndarray]:
    half = math.ceil(sigma * math.sqrt(-2.0 * math.log(math.sqrt(2.0 * math.pi) * sigma * 0.01)))
    r = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-(r**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    dg = -r * g / sigma**2
    hx = g[:, None] * dg[None, :]
    hx /= np.sqrt((hx**2).sum())
    return hx, hx.T


def _gradient_magnitude(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    hx, hy = _gauss_derivative_filters()
    gx = ndimage.convolve(a, hx, mode="nearest")
    gy = ndimage.convolve(a, hy, mode="nearest")
    return np.sqrt(gx**2 + gy**2)


def gradient_error(pred: np.ndarray, true: np.ndarray) -> float:
    """Σ (|∇α| − |∇α_true|)² / 1000, first derivatives of a Gaussian (σ = 1.4) on mattes
    min-max normalised."""
    p = np.clip(pred, 0, 1).astype(np.float64)
    d = _gradient_magnitude(p) - _gradient_magnitude(true.astype(np.float64))
    return float((d**2).sum() / 1000.0)


def connectivity_error(pred: np.ndarray, true: np.ndarray, step: float = 0.1) -> float:
    """Σ |φ(α) − φ(α_true)| / 1000, where φ measures how far each pixel is from the largest
    component that both mattes agree is connected (θ = 0.15)."""
    p = np.clip(pred, 0, 1).astype(np.float64)
    t = true.astype(np.float64)
    level = np.ones_like(p)
    for thr in np.arange(0.0, 1.0 + 1e-9, step):
        both = (p >= thr) & (t >= thr)
        labels, n = ndimage.label(both)  # 4-connectivity
        if n == 0:
            largest = np.zeros_like(both)
        else:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            largest = labels == int(np.argmax(sizes))
        # the last threshold at which a pixel was still in the largest component
        dropped = (level == 1) & ~largest
        level[dropped] = thr - step
    level[level < 0] = 0.0  # never in it

    def phi(a: np.ndarray) -> np.ndarray:
        d = a - level
        return 1.0 - d * (d >= 0.15)

    return float(np.abs(phi(p) - phi(t)).sum() / 1000.0)


def dtssd(pred: list[np.ndarray], true: list[np.ndarray]) -> float:
    """Temporal flicker of a matted sequence (Erofeev et al., "Perceptually Motivated
    Benchmark for Video Matting", BMVC 2015): the root-mean-square over pixels of the error in
    alpha's frame-to-frame change, averaged over frame pairs, × 100."""
    if len(pred) != len(true) or len(pred) < 2:
        raise ValueError("dtssd needs two or more frames, as many predicted as true")
    out = []
    for t in range(1, len(pred)):
        d_pred = np.clip(pred[t], 0, 1).astype(np.float64) - np.clip(pred[t - 1], 0, 1)
        d_true = true[t].astype(np.float64) - true[t - 1]
        out.append(math.sqrt(float(np.mean((d_pred - d_true) ** 2))))
    return float(np.mean(out) * 100.0)


#: Thin structure for :func:`strand_recall`: a ridge is where alpha stands at least this much
#: above its own grey-level opening by a 3×3 square (anything narrower than 3 px: strands,
#: wires); the strand pixels are the soft ones (0.1 < α < 0.9) within 2 px of a ridge; a
#: pixel is recovered when the matte is within 0.2 of the truth there.
RIDGE_HEIGHT = 0.1
STRAND_REACH = 2
STRAND_TOLERANCE = 0.2


def strand_mask(true: np.ndarray) -> np.ndarray:
    """The true thin-structure pixels of a matte (bool H×W), see :func:`strand_recall`."""
    t = true.astype(np.float32)
    ridge = t - ndimage.grey_opening(t, size=(3, 3), mode="nearest") >= RIDGE_HEIGHT
    yy, xx = np.mgrid[-STRAND_REACH : STRAND_REACH + 1, -STRAND_REACH : STRAND_REACH + 1]
    disc = yy * yy + xx * xx <= STRAND_REACH * STRAND_REACH
    near = ndimage.binary_dilation(ridge, structure=disc)
    return near & (t > 0.1) & (t < 0.9)


def strand_recall(pred: np.ndarray, true: np.ndarray) -> float:
    """The fraction of the true thin-structure pixels (hair strands, wires: 0.1 < α < 0.9
    within 2 px of a ridge of alpha narrower than 3 px) that the matte recovers within 0.2;
    NaN where the truth has none. SAD hardly sees a dropped strand (a few pixels of a few
    tenths each); this counts them."""
    mask = strand_mask(true)
    if not mask.any():
        return float("nan")
    err = np.abs(np.clip(pred[mask], 0, 1).astype(np.float64) - true[mask])
    return float(np.mean(err <= STRAND_TOLERANCE))
