"""Sensor-noise model of the plate / clean-plate difference, measured from the images.

Camera noise is well described as Poisson–Gaussian (Foi et al., "Practical Poissonian-Gaussian
noise modeling and fitting for single-image raw-data", IEEE TIP 2008): its variance grows
linearly with the signal, ``var = read_var + shot_var * signal``. The difference of two
independent captures of the same background carries the sum of both captures' noise, so we fit
that line per channel to robust (MAD) variances of the difference measured in intensity bins,
over pixels already judged background. Thresholds in units of this noise adapt to ISO,
exposure and grain without a hand-set constant.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class NoiseModel:
    """Per-channel variance of the difference: ``read_var + shot_var * clean_plate``."""

    read_var: np.ndarray  # (3,)
    shot_var: np.ndarray  # (3,)


def fit_noise(diff: np.ndarray, clean_plate: np.ndarray, background: np.ndarray) -> NoiseModel:
    """Fit the noise line per channel on pixels where ``background`` (H×W bool) is true.

    ``diff`` is plate - gain*clean_plate (H×W×3). Falls back to a global MAD when the
    background is too small to bin.
    """
    read_var = np.zeros(3, np.float64)
    shot_var = np.zeros(3, np.float64)
    for k in range(3):
        d = diff[..., k][background]
        s = np.clip(clean_plate[..., k][background], 0.0, None)
        if d.size < 200:
            d = diff[..., k].ravel()
            s = np.clip(clean_plate[..., k].ravel(), 0.0, None)
        global_var = (_MAD_TO_SIGMA * np.median(np.abs(d - np.median(d)))) ** 2
        edges = np.unique(np.quantile(s, np.linspace(0.0, 1.0, 9)))
        xs, ys = [], []
        for lo, hi in itertools.pairwise(edges):
            sel = (s >= lo) & (s <= hi)
            if sel.sum() < 50:
                continue
            db = d[sel]
            xs.append(float(np.median(s[sel])))
            ys.append((_MAD_TO_SIGMA * float(np.median(np.abs(db - np.median(db))))) ** 2)
        if len(xs) >= 3 and np.ptp(xs) > 0:
            slope, icept = np.polyfit(np.asarray(xs), np.asarray(ys), 1)
            slope = max(float(slope), 0.0)
            icept = max(float(icept), 0.05 * float(global_var))
        else:
            slope, icept = 0.0, float(global_var)
        read_var[k] = max(icept, 1e-10)
        shot_var[k] = slope
    return NoiseModel(read_var.astype(np.float32), shot_var.astype(np.float32))
