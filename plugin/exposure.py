"""Exposure and white-balance drift between the plate and the clean plate.

Clean plates are shot minutes apart: the light and the camera's auto settings drift, so the
background in the plate is ``gain[c] * clean_plate[c]`` with a per-channel gain near 1
(the dev cases drift by up to a quarter stop). A plain median of ``plate / clean_plate`` over
the image fails once the subject covers most of the frame, because the median then lands on
the subject. Background pixels instead all share the *same* log-ratio, so they form the
sharpest peak of the log-ratio histogram even when they are a minority; subject pixels spread
over a wide range. We take that peak (the mode, found jointly over the three channels so a
subject that matches the background in one channel does not fool it), then refine it with a
trimmed mean over the pixels whose ratios agree with it in all channels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from bgmatte.plugin.bands import in_bands
from bgmatte.plugin.pixels import box_down
from bgmatte.plugin.timing import stage

_BIN = 0.004  # log-ratio histogram bin width (about 0.6 % of exposure)
_MAX_LOG = 1.5  # search range: +-1.5 in natural log, a little over +-2 stops


def _mode(values: np.ndarray) -> float:
    bins = np.arange(-_MAX_LOG, _MAX_LOG + _BIN, _BIN)
    hist, edges = np.histogram(values, bins=bins)
    hist = ndimage.gaussian_filter1d(hist.astype(np.float64), 1.5)
    i = int(np.argmax(hist))
    return float(0.5 * (edges[i] + edges[i + 1]))


def _all_channels(test: np.ndarray) -> np.ndarray:
    """``np.all(test, axis=1)`` for N×3 ``test``, a column at a time."""
    return test[:, 0] & test[:, 1] & test[:, 2]


def estimate_gain(plate: np.ndarray, clean_plate: np.ndarray) -> np.ndarray:
    """Per-channel gain ``g`` (shape (3,), float32) with plate ≈ g * clean_plate on background.

    Returns ones when too few usable pixels exist (a black frame, say).
    """
    # about a quarter megapixel is plenty for a histogram, whatever the frame size
    factor = (
        max(1, int(np.sqrt(plate.shape[0] * plate.shape[1] / 250_000)))
        if min(plate.shape[:2]) >= 64
        else 1
    )
    factor = max(factor, 4) if min(plate.shape[:2]) >= 64 else 1
    # box_down takes float32 as it is (no frame-sized copy first)
    p = box_down(plate[..., :3], factor).reshape(-1, 3)
    c = box_down(clean_plate[..., :3], factor).reshape(-1, 3)
    floor = max(float(np.percentile(c, 5)), 1e-4)
    # the three channels' tests combined column by column (numpy's reductions over a short
    # axis are slow)
    ok = _all_channels((c > floor) & (p > 1e-6))
    if ok.sum() < 64:
        return np.ones(3, np.float32)
    ratio = np.log(p[ok] / c[ok])
    inside = _all_channels(np.abs(ratio) < _MAX_LOG)
    ratio = ratio[inside]
    if len(ratio) < 64:
        return np.ones(3, np.float32)
    # Joint mode: the luminance-like mean ratio first, then each channel among the pixels
    # that agree on it.
    mean_ratio = (ratio[:, 0] + ratio[:, 1] + ratio[:, 2]) / np.float32(3)  # as .mean(axis=1)
    m = _mode(mean_ratio)
    near = np.abs(mean_ratio - m) < 0.05
    centre = np.array([_mode(ratio[near, k]) for k in range(3)])
    for tol in (0.06, 0.03):
        agree = _all_channels(np.abs(ratio - centre) < tol)
        if agree.sum() < 32:
            break
        centre = np.median(ratio[agree], axis=0)
    return np.exp(centre).astype(np.float32)


def matched_clean_plate(plate: np.ndarray, clean_plate: np.ndarray, match: bool) -> np.ndarray:
    """The clean plate times :func:`estimate_gain` (when ``match``), float32: what both
    engines key against and the unmix uses."""
    if not match:  # as it is: no frame-sized copies of a product by one
        return np.asarray(clean_plate, np.float32)
    with stage("exposure"):
        gain = estimate_gain(plate, clean_plate).astype(np.float32)
        out: np.ndarray = np.empty(clean_plate.shape, np.float32)

        def rows(band: slice) -> None:  # per pixel: in row bands, on every thread
            np.multiply(clean_plate[band], gain, out=out[band], dtype=np.float32)

        in_bands(rows, out.shape[0])
        return out
