"""Sensor-noise model of the plate / clean-plate difference, measured from the images.

Camera noise is well described as Poisson–Gaussian (Foi et al., "Practical Poissonian-Gaussian
noise modeling and fitting for single-image raw-data", IEEE TIP 2008): its variance grows
linearly with the signal, ``var = read_var + shot_var * signal``. The difference of two
independent captures of the same background carries the sum of both captures' noise, so we fit
that model per channel to robust (MAD) variances of the difference measured in intensity bins,
over pixels already judged background. A third, quadratic term ``gain_var * signal²`` takes
what grows with the signal itself: residual misregistration on bright texture and the error
of the exposure match; it has a floor of (0.5 %)², since no two captures match better.
Thresholds in units of this noise adapt to ISO, exposure and grain without a hand-set
constant.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

MAD_TO_SIGMA = 1.4826  # the MAD of a Gaussian times this is its standard deviation
SAMPLE_BUDGET = 200_000  # pixels of a frame the background is looked for among
_MAX_SAMPLES = 50_000  # background pixels fitted on, at most
GAIN_FLOOR = 0.005**2  # relative variance no two captures beat
VAR_FLOOR = 1e-10  # absolute variance (sigma 1e-5), below any camera's noise


@dataclass(frozen=True)
class NoiseModel:
    """Per-channel variance of the difference: ``read + shot * C + gain * C²``."""

    read_var: np.ndarray  # (3,)
    shot_var: np.ndarray  # (3,)
    gain_var: np.ndarray  # (3,)


def samples(pixels: int, budget: int = SAMPLE_BUDGET) -> np.ndarray:
    """Flat indices of at most ``budget`` of a frame's ``pixels``, spread evenly in raster
    order (a fixed stride: repeatable). The noise model is a handful of robust statistics,
    which a fixed budget of samples pins down as well as a whole HD or 4K frame, at a cost
    that does not grow with the frame."""
    return np.arange(0, pixels, pixels // budget + 1)


def fit_noise(diff: np.ndarray, clean_plate: np.ndarray, background: np.ndarray) -> NoiseModel:
    """Fit the noise line per channel on pixels where ``background`` (bool, the pixels'
    shape) is true.

    ``diff`` is plate - gain*clean_plate, ``clean_plate`` the clean plate, as H×W×3 images or
    N×3 samples of them. Falls back to a global MAD when the background is too small to bin.
    """
    read_var = np.zeros(3, np.float64)
    shot_var = np.zeros(3, np.float64)
    gain_var = np.full(3, GAIN_FLOOR, np.float64)
    # The background pixels in raster order, thinned by a fixed stride when there are more
    # than robust statistics need (repeatable); gathered once for all channels.
    where = np.flatnonzero(background)
    if where.size > _MAX_SAMPLES:
        where = where[:: where.size // _MAX_SAMPLES + 1]
    diffs = diff.reshape(-1, diff.shape[-1])[where]
    cleans = np.clip(clean_plate.reshape(-1, clean_plate.shape[-1])[where], 0.0, None)
    for k in range(3):
        d, s = diffs[:, k], cleans[:, k]
        if d.size < 200:
            d = diff[..., k].ravel()
            s = np.clip(clean_plate[..., k].ravel(), 0.0, None)
        global_var = (MAD_TO_SIGMA * np.median(np.abs(d - np.median(d)))) ** 2
        # Sorted by signal once, each bin (both edges in it) is a slice: the same values as
        # a mask per bin, without a pass over all samples per bin.
        order = np.argsort(s)  # ties in s fall in the same bins in any order
        s, d = s[order], d[order]
        qs = np.concatenate([np.linspace(0.0, 0.9, 10), [0.95, 0.98, 1.0]])
        edges = np.unique(np.quantile(s, qs))
        xs, ys = [], []
        for lo, hi in itertools.pairwise(edges):
            i, j = np.searchsorted(s, lo, "left"), np.searchsorted(s, hi, "right")
            if j - i < 50:
                continue
            db = d[i:j]
            xs.append(float(np.median(s[i:j])))
            ys.append((MAD_TO_SIGMA * float(np.median(np.abs(db - np.median(db))))) ** 2)
        if len(xs) >= 4 and np.ptp(xs) > 0:
            # A noise-free difference (a CG render and its clean plate) has bins of zero
            # variance: floored at VAR_FLOOR, so the fit stays finite.
            x, y = np.asarray(xs), np.maximum(np.asarray(ys), VAR_FLOOR)
            # Non-negative least squares on relative residuals (each bin weighs the same).
            design = np.stack([np.ones_like(x), x, x * x], 1) / y[:, None]
            (icept, slope, quad), _ = nnls(design, np.ones_like(y))
            icept = max(float(icept), 0.05 * float(global_var))
            gain_var[k] = max(float(quad), GAIN_FLOOR)
        else:
            slope, icept = 0.0, float(global_var)
        read_var[k] = max(icept, VAR_FLOOR)
        shot_var[k] = slope
    return NoiseModel(
        read_var.astype(np.float32), shot_var.astype(np.float32), gain_var.astype(np.float32)
    )
