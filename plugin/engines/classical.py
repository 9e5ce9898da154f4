"""The classical engine: a noise-adaptive difference matte with local colour unmixing.

Steps (each a plain array operation, no learning):
1. Match the clean plate's exposure and white balance to the plate (:mod:`bgmatte.plugin.drift`).
2. Measure the difference in units of the sensor noise fitted on the images themselves
   (:mod:`bgmatte.plugin.noise`), taking the minimum over clean-plate shifts of up to
   ``shift_tolerance`` px so slight misregistration does not read as subject.
3. A soft key: ``smoothstep(z, threshold, threshold + softness)``.
4. Soft edges: inside a band around the solid core of the key, the foreground colour is
   extrapolated from the core (normalized convolution, Knutsson & Westin 1993), and alpha
   is the least-squares projection of plate - clean_plate onto foreground - clean_plate
   (the "known colours" step of Chuang et al., CVPR 2001), trusted where the two colours
   differ by many noise sigmas.
5. The optional segmentation pulls alpha where the key is ambiguous.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
from scipy import ndimage

from bgmatte.kernels import numpy_kernels as kernels
from bgmatte.plugin.drift import matched_clean_plate
from bgmatte.plugin.engines import EngineResult
from bgmatte.plugin.noise import NoiseModel, fit_noise

_PRE_BLUR = 0.8  # px, Gaussian pre-blur of the detection difference
_CORE_ERODE = 2  # px the solid core is eroded before colours are taken from it
_BAND = 12  # px around the core where alpha may be fractional
_SNAP = 0.02  # alpha below this is 0, above 1 - this is 1


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur per channel (OpenCV: several times faster than scipy.ndimage here)."""
    src = np.ascontiguousarray(img, dtype=np.float32)
    k = 2 * int(np.ceil(4.0 * sigma)) + 1  # scipy's truncate=4
    out = cv2.GaussianBlur(src, (k, k), sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    return out.reshape(img.shape)


def _shifted(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    if dy == 0 and dx == 0:
        return img
    pad = ((abs(dy), abs(dy)), (abs(dx), abs(dx))) + ((0, 0),) * (img.ndim - 2)
    big = np.pad(img, pad, mode="edge")
    h, w = img.shape[:2]
    y0, x0 = abs(dy) - dy, abs(dx) - dx
    return big[y0 : y0 + h, x0 : x0 + w]


def _noise_distance(plate: np.ndarray, clean: np.ndarray, model: NoiseModel, r: int) -> np.ndarray:
    best: np.ndarray | None = None
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            c = _shifted(clean, dy, dx)
            z = kernels.noise_distance(
                kernels.difference(plate, c, (1.0, 1.0, 1.0)),
                c,
                model.read_var,
                model.shot_var,
                model.gain_var,
            )
            best = z if best is None else np.minimum(best, z)
    assert best is not None
    return best


def _fill_from(colours: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Extrapolate ``colours`` from ``mask`` outwards: finest normalized convolution that has
    support. Returns (filled H×W×3, support H×W in [0, 1])."""
    filled = np.zeros_like(colours)
    support = np.zeros(mask.shape, np.float32)
    m = mask.astype(np.float32)
    done = np.zeros(mask.shape, bool)
    for sigma in (1.5, 3.0, 6.0, 12.0):
        w = _blur(m, sigma)
        num = _blur(colours * m[..., None], sigma)
        ok = (w > 0.05) & ~done
        filled[ok] = num[ok] / w[ok, None]
        support[ok] = np.minimum(w[ok] / 0.2, 1.0)
        done |= ok
    return filled, support


def run(
    plate: np.ndarray,
    clean_plate: np.ndarray,
    segmentation: np.ndarray | None,
    params: Mapping[str, Any],
) -> EngineResult:
    """Alpha and debug passes for one frame (all inputs H×W×3 / H×W float32, linear)."""
    clean = matched_clean_plate(plate, clean_plate, params["match_exposure"])
    pb, cb = _blur(plate, _PRE_BLUR), _blur(clean, _PRE_BLUR)
    diff = pb - cb

    # Noise fit: first on pixels whose difference is small relative to the signal, then on
    # the pixels the first fit calls background.
    rel = np.abs(diff) <= 0.03 * np.abs(cb) + 1e-3
    model = fit_noise(diff, cb, np.all(rel, axis=2))
    z = kernels.noise_distance(diff, cb, model.read_var, model.shot_var, model.gain_var)
    model = fit_noise(diff, cb, z < params["threshold"])
    z = _noise_distance(pb, cb, model, int(params["shift_tolerance"]))

    t_lo = float(params["threshold"])
    key = kernels.smoothstep(z, t_lo, t_lo + float(params["softness"]))
    solid = ndimage.binary_opening(key > 0.5, iterations=1)
    key = key * ndimage.binary_dilation(solid, iterations=2)

    core = ndimage.binary_erosion(key > 0.99, iterations=_CORE_ERODE)
    band = ndimage.binary_dilation(core, iterations=_BAND) & ~core & (key > 0.0)
    fg_est, support = _fill_from(plate, core)
    sep = np.sqrt(
        np.sum(
            (fg_est - clean) ** 2
            / (
                model.read_var
                + model.shot_var * np.clip(clean, 0, None)
                + model.gain_var * clean**2
            ),
            2,
        )
    )
    trust = kernels.smoothstep(sep, 2.0 * t_lo, 4.0 * t_lo) * support
    projected = kernels.project_alpha(plate, clean, fg_est)
    alpha = key.copy()
    alpha[band] = trust[band] * projected[band] + (1.0 - trust[band]) * key[band]
    error = np.zeros_like(alpha)
    error[band] = 1.0 - trust[band]
    ambiguity = 1.0 - np.abs(2.0 * key - 1.0)
    error = np.maximum(error, ambiguity)

    if segmentation is not None:
        prior = np.clip(segmentation, 0.0, 1.0).astype(np.float32)
        w = float(params["segmentation_weight"]) * ambiguity
        alpha = alpha + w * (prior - alpha)
    else:
        prior = _blur(key, 2.0)

    alpha = np.clip(alpha, 0.0, 1.0)
    alpha[alpha < _SNAP] = 0.0
    alpha[alpha > 1.0 - _SNAP] = 1.0
    return EngineResult(
        alpha=alpha.astype(np.float32),
        clean_plate=clean,
        difference=np.abs(plate - clean).astype(np.float32),
        segmentation=prior.astype(np.float32),
        error=np.clip(error, 0.0, 1.0).astype(np.float32),
    )
