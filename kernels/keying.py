"""The classical key's per-pixel maths, NumPy only: the classical engine runs on the CPU.

Unlike :mod:`.numpy_kernels` these have no CuPy twin: nothing runs them on a GPU.
Conventions and symbols as in :mod:`.numpy_kernels`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from bgmatte.kernels import _checks

__all__ = ["noise_distance", "project_alpha", "smoothstep"]

F32 = np.float32


def _f32(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=F32)


def noise_distance(
    diff: ArrayLike,
    clean_plate: ArrayLike,
    read_var: Sequence[float] | np.ndarray,
    shot_var: Sequence[float] | np.ndarray,
    gain_var: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """Per-pixel difference in units of the expected sensor noise.

    Poisson–Gaussian noise model (Foi et al., "Practical Poissonian-Gaussian noise modeling
    and fitting for single-image raw-data", IEEE TIP 2008): a pixel of linear value y has
    variance sigma_c^2(y) = read_var_c + shot_var_c * max(y, 0). The distance is

        dist = sqrt( sum_c D_c^2 / (read_var_c + shot_var_c * max(B_c, 0) + gain_var_c * B_c^2) ),

    so that a pixel where plate and clean plate differ only by noise has dist of order
    sqrt(C), independently of brightness. ``read_var`` must be > 0 and ``shot_var`` >= 0
    (length C each), which keeps every denominator positive. The optional ``gain_var`` >= 0
    (default 0) adds noise proportional to the signal itself: what residual misregistration
    and exposure mismatch leave in the difference, which grows with brightness.

    diff, clean_plate: H×W×C -> dist: H×W.
    """
    diff, clean_plate = _f32(diff), _f32(clean_plate)
    channels = _checks.image(diff.shape, "difference")
    _checks.same_image(clean_plate.shape, "clean_plate", diff.shape, "difference")
    rv = _checks.per_channel(read_var, "read_var", channels)
    sv = _checks.per_channel(shot_var, "shot_var", channels)
    _checks.positive(rv, "read_var", allow_zero=False)
    _checks.positive(sv, "shot_var", allow_zero=True)
    gv = _checks.per_channel(
        np.zeros(channels) if gain_var is None else gain_var, "gain_var", channels
    )
    _checks.positive(gv, "gain_var", allow_zero=True)
    # Channel by channel on contiguous planes: NumPy adds planes faster than it sums over a
    # short last axis (the same float32 operations).
    total = np.zeros(diff.shape[:-1], F32)
    for ch in range(channels):
        b = np.ascontiguousarray(clean_plate[..., ch])
        var = rv[ch] + sv[ch] * np.maximum(b, F32(0)) + gv[ch] * b * b
        d = np.ascontiguousarray(diff[..., ch])
        total += d * d / var
    return np.sqrt(total)


def smoothstep(x: ArrayLike, lo: float, hi: float) -> np.ndarray:
    """Hermite smoothstep from ``lo`` (-> 0) to ``hi`` (-> 1).

    t = clip((x - lo) / (hi - lo), 0, 1);  y = t * t * (3 - 2 * t).
    ``hi < lo`` gives the falling step. ``lo == hi`` is refused.

    x: any shape -> y: same shape.
    """
    x = _f32(x)
    lo32, hi32 = _checks.scalar_range(lo, hi)
    t = np.clip((x - lo32) / (hi32 - lo32), F32(0), F32(1))
    return t * t * (F32(3) - F32(2) * t)


def project_alpha(
    plate: ArrayLike, clean_plate: ArrayLike, foreground_estimate: ArrayLike
) -> np.ndarray:
    """Least-squares alpha for known foreground and background colours.

    Minimising |P - (a * F + (1 - a) * B)|^2 over a gives (Chuang et al., "A Bayesian
    approach to digital matting", CVPR 2001, the alpha step with F and B fixed):

        a = clip( dot(P - B, F - B) / max(|F - B|^2, 1e-8), 0, 1 ).

    plate, clean_plate, foreground_estimate: H×W×C -> alpha: H×W (clipped to [0, 1]).
    """
    plate, clean_plate = _f32(plate), _f32(clean_plate)
    foreground_estimate = _f32(foreground_estimate)
    _checks.image(plate.shape, "plate")
    _checks.same_image(clean_plate.shape, "clean_plate", plate.shape, "plate")
    _checks.same_image(foreground_estimate.shape, "foreground_estimate", plate.shape, "plate")
    num = np.zeros(plate.shape[:-1], F32)
    den = np.zeros(plate.shape[:-1], F32)
    for ch in range(plate.shape[-1]):  # planes, not a sum over the short last axis (faster)
        b = clean_plate[..., ch]
        fb = foreground_estimate[..., ch] - b
        num += (plate[..., ch] - b) * fb
        den += fb * fb
    return np.clip(num / np.maximum(den, F32(1e-8)), F32(0), F32(1))
