"""Compositing maths, NumPy bodies.

Every function here has a CuPy twin of the same name and signature in
:mod:`bgmatte.kernels.cupy_kernels`. Conventions (DESIGN.md):

- pixels are scene-linear float32; images are H×W×C channel-last, alpha is H×W;
- colour values are never clipped, so HDR values above 1 and negative values survive;
  only alpha is clipped, and only where a docstring says so;
- every output is a new float32 array; inputs are converted with ``np.asarray(x, float32)``;
- per-channel parameters (gains, variances) may be sequences or arrays of length C.

Symbols in the docstrings: P plate, B clean plate, F foreground (unpremultiplied),
a alpha, c a channel.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from bgmatte.kernels import _checks

__all__ = [
    "composite",
    "over",
    "premultiply",
    "regularised_unmix",
    "unmix_foreground",
    "unpremultiply",
]

F32 = np.float32


def _f32(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=F32)


def premultiply(rgb: ArrayLike, alpha: ArrayLike) -> np.ndarray:
    """Premultiply a foreground by its alpha.

    rgba[..., c] = rgb[..., c] * a  (c < 3),  rgba[..., 3] = a.

    rgb: H×W×3, alpha: H×W -> rgba: H×W×4 (premultiplied).
    """
    rgb, alpha = _f32(rgb), _f32(alpha)
    _checks.image(rgb.shape, "rgb", 3)
    _checks.alpha(alpha.shape, "alpha", rgb.shape, "rgb")
    out = np.empty((*alpha.shape, 4), dtype=F32)
    np.multiply(rgb, alpha[..., None], out=out[..., :3])
    out[..., 3] = alpha
    return out


def unpremultiply(rgba: ArrayLike, eps: float = 1e-6) -> np.ndarray:
    """Divide a premultiplied colour by its alpha.

    rgb = rgba[..., :3] / a  where a > eps, else 0.

    rgba: H×W×4 -> rgb: H×W×3.
    """
    rgba = _f32(rgba)
    _checks.image(rgba.shape, "rgba", 4)
    a = rgba[..., 3:4]
    out = np.zeros((*rgba.shape[:2], 3), dtype=F32)
    np.divide(rgba[..., :3], a, out=out, where=a > F32(eps))
    return out


def over(rgba: ArrayLike, background: ArrayLike) -> np.ndarray:
    """Porter–Duff *over* of a premultiplied foreground onto a background.

    C = rgba[..., :3] + (1 - a) * background.

    rgba: H×W×4 (premultiplied), background: H×W×3 -> H×W×3.
    """
    rgba, background = _f32(rgba), _f32(background)
    _checks.image(rgba.shape, "rgba", 4)
    _checks.same_image(background.shape, "background", (*rgba.shape[:2], 3), "rgba's colour")
    return rgba[..., :3] + (F32(1) - rgba[..., 3:4]) * background


def unmix_foreground(
    plate: ArrayLike, clean_plate: ArrayLike, alpha: ArrayLike, eps: float = 1e-3
) -> np.ndarray:
    """Solve the matting equation for the foreground colour, in linear light.

    The plate is P = a * F + (1 - a) * B (Porter & Duff 1984; Smith & Blinn 1996). With the
    clean plate B and alpha known, F = (P - (1 - a) * B) / a where a > eps, else 0. Then
    a * F + (1 - a) * B reproduces P (to rounding) wherever a > eps. Unclipped: F may leave
    [0, 1] where the plate is HDR or where alpha and clean plate disagree with the plate.

    plate, clean_plate: H×W×C, alpha: H×W -> foreground: H×W×C.
    """
    plate, clean_plate, alpha = _f32(plate), _f32(clean_plate), _f32(alpha)
    _checks.image(plate.shape, "plate")
    _checks.same_image(clean_plate.shape, "clean_plate", plate.shape, "plate")
    _checks.alpha(alpha.shape, "alpha", plate.shape, "plate")
    a = alpha[..., None]
    out = np.zeros(plate.shape, dtype=F32)
    np.divide(plate - (F32(1) - a) * clean_plate, a, out=out, where=a > F32(eps))
    return out


def regularised_unmix(
    plate: ArrayLike,
    clean_plate: ArrayLike,
    alpha: ArrayLike,
    prior: ArrayLike,
    weight: ArrayLike,
) -> np.ndarray:
    """The foreground colour that best explains the plate, pulled toward a prior colour.

    Minimises |a * F - (P - (1 - a) * B)|² + w * |F - F_prior|² per pixel: the matting
    equation as a least-squares fit with a Gaussian prior on F (a MAP estimate, as in Levin et
    al. 2008's foreground solve, without its smoothness term), so
    F = (a * (P - (1 - a) * B) + w * F_prior) / (a² + w). Where w = 0 it is the exact unmix;
    where a = 0 it is the prior. Unclipped. Where a² + w = 0 (no data, no prior) F = 0.

    plate, clean_plate, prior: H×W×C, alpha, weight (≥ 0): H×W -> foreground: H×W×C.
    """
    plate, clean_plate, alpha = _f32(plate), _f32(clean_plate), _f32(alpha)
    prior, weight = _f32(prior), _f32(weight)
    _checks.image(plate.shape, "plate")
    _checks.same_image(clean_plate.shape, "clean_plate", plate.shape, "plate")
    _checks.same_image(prior.shape, "prior", plate.shape, "plate")
    _checks.alpha(alpha.shape, "alpha", plate.shape, "plate")
    _checks.alpha(weight.shape, "weight", plate.shape, "plate", "weight")
    a, w = alpha[..., None], weight[..., None]
    num = a * (plate - (F32(1) - a) * clean_plate) + w * prior
    den = a * a + w
    out = np.zeros(plate.shape, dtype=F32)
    np.divide(num, den, out=out, where=den > F32(0))
    return out


def composite(foreground: ArrayLike, alpha: ArrayLike, background: ArrayLike) -> np.ndarray:
    """Composite an unpremultiplied foreground over a background.

    C = a * F + (1 - a) * background.

    foreground, background: H×W×C, alpha: H×W -> H×W×C.
    """
    foreground, alpha, background = _f32(foreground), _f32(alpha), _f32(background)
    _checks.image(foreground.shape, "foreground")
    _checks.alpha(alpha.shape, "alpha", foreground.shape, "foreground")
    _checks.same_image(background.shape, "background", foreground.shape, "foreground")
    a = alpha[..., None]
    return a * foreground + (F32(1) - a) * background
