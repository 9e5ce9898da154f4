"""Compositing maths, CuPy twins.

Same names, signatures and maths as :mod:`bgmatte.kernels.numpy_kernels` (read the maths
there); inputs are converted with ``cupy.asarray(x, float32)`` and every output is a new
float32 cupy array. Each kernel is one fused pass (``cupy.ElementwiseKernel``), built once by
a memoized builder. ``cupy`` is imported only inside the builders and the calls, so importing
this module never needs CuPy or CUDA. The shape and parameter checks are shared with the
NumPy bodies (:mod:`bgmatte.kernels._checks`), so both raise the same errors.

Clips are written as comparisons (``t < 0 ? 0 : (t > 1 ? 1 : t)``) rather than
``fminf``/``fmaxf`` so that NaN propagates as in ``np.clip``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from bgmatte.kernels import _checks

if TYPE_CHECKING:
    import cupy as cp

__all__ = [
    "composite",
    "over",
    "premultiply",
    "regularised_unmix",
    "unmix_foreground",
    "unpremultiply",
]


def _cupy() -> Any:
    import cupy

    return cupy


def _f32(x: Any) -> cp.ndarray:
    cupy = _cupy()
    return cupy.ascontiguousarray(cupy.asarray(x, dtype=cupy.float32))


def _host_vector(value: Any) -> Any:
    """Bring a per-channel parameter to the host if it is a cupy array."""
    cupy = _cupy()
    return cupy.asnumpy(value) if isinstance(value, cupy.ndarray) else value


def _elementwise(in_params: str, out_params: str, body: str, name: str) -> Any:
    return _cupy().ElementwiseKernel(in_params, out_params, body, f"bgmatte_{name}")


@functools.cache
def _premultiply_kernel() -> Any:
    return _elementwise(
        "raw float32 rgb, raw float32 alpha",
        "float32 rgba",
        """
        const ptrdiff_t p = i / 4, c = i % 4;
        const float a = alpha[p];
        rgba = c < 3 ? rgb[p * 3 + c] * a : a;
        """,
        "premultiply",
    )


@functools.cache
def _unpremultiply_kernel() -> Any:
    return _elementwise(
        "raw float32 rgba, float32 eps",
        "float32 rgb",
        """
        const ptrdiff_t p = i / 3, c = i % 3;
        const float a = rgba[p * 4 + 3];
        rgb = a > eps ? rgba[p * 4 + c] / a : 0.0f;
        """,
        "unpremultiply",
    )


@functools.cache
def _over_kernel() -> Any:
    return _elementwise(
        "raw float32 rgba, float32 background",
        "float32 rgb",
        """
        const ptrdiff_t p = i / 3, c = i % 3;
        rgb = rgba[p * 4 + c] + (1.0f - rgba[p * 4 + 3]) * background;
        """,
        "over",
    )


@functools.cache
def _unmix_kernel() -> Any:
    return _elementwise(
        "float32 plate, float32 clean_plate, raw float32 alpha, float32 eps, int32 n_ch",
        "float32 foreground",
        """
        const float a = alpha[i / n_ch];
        foreground = a > eps ? (plate - (1.0f - a) * clean_plate) / a : 0.0f;
        """,
        "unmix_foreground",
    )


@functools.cache
def _regularised_unmix_kernel() -> Any:
    return _elementwise(
        "float32 plate, float32 clean_plate, raw float32 alpha, float32 prior, "
        "raw float32 weight, int32 n_ch",
        "float32 foreground",
        """
        const float a = alpha[i / n_ch], w = weight[i / n_ch];
        const float den = a * a + w;
        foreground = den > 0.0f ? (a * (plate - (1.0f - a) * clean_plate) + w * prior) / den
                                : 0.0f;
        """,
        "regularised_unmix",
    )


@functools.cache
def _composite_kernel() -> Any:
    return _elementwise(
        "float32 foreground, raw float32 alpha, float32 background, int32 n_ch",
        "float32 rgb",
        """
        const float a = alpha[i / n_ch];
        rgb = a * foreground + (1.0f - a) * background;
        """,
        "composite",
    )


def premultiply(rgb: Any, alpha: Any) -> cp.ndarray:
    """Twin of :func:`bgmatte.kernels.numpy_kernels.premultiply`: (rgb * a, a)."""
    rgb, alpha = _f32(rgb), _f32(alpha)
    _checks.image(rgb.shape, "rgb", 3)
    _checks.alpha(alpha.shape, "alpha", rgb.shape, "rgb")
    out = _cupy().empty((*alpha.shape, 4), dtype=np.float32)
    _premultiply_kernel()(rgb, alpha, out)
    return out


def unpremultiply(rgba: Any, eps: float = 1e-6) -> cp.ndarray:
    """Twin of :func:`bgmatte.kernels.numpy_kernels.unpremultiply`: rgb / a where a > eps."""
    rgba = _f32(rgba)
    _checks.image(rgba.shape, "rgba", 4)
    out = _cupy().empty((*rgba.shape[:2], 3), dtype=np.float32)
    _unpremultiply_kernel()(rgba, np.float32(eps), out)
    return out


def over(rgba: Any, background: Any) -> cp.ndarray:
    """Twin of :func:`bgmatte.kernels.numpy_kernels.over`: rgb + (1 - a) * background."""
    rgba, background = _f32(rgba), _f32(background)
    _checks.image(rgba.shape, "rgba", 4)
    _checks.same_image(background.shape, "background", (*rgba.shape[:2], 3), "rgba's colour")
    out = _cupy().empty(background.shape, dtype=np.float32)
    _over_kernel()(rgba, background, out)
    return out


def unmix_foreground(plate: Any, clean_plate: Any, alpha: Any, eps: float = 1e-3) -> cp.ndarray:
    """Twin of :func:`bgmatte.kernels.numpy_kernels.unmix_foreground`.

    F = (P - (1 - a) * B) / a where a > eps, else 0; unclipped.
    """
    plate, clean_plate, alpha = _f32(plate), _f32(clean_plate), _f32(alpha)
    channels = _checks.image(plate.shape, "plate")
    _checks.same_image(clean_plate.shape, "clean_plate", plate.shape, "plate")
    _checks.alpha(alpha.shape, "alpha", plate.shape, "plate")
    out = _cupy().empty(plate.shape, dtype=np.float32)
    _unmix_kernel()(plate, clean_plate, alpha, np.float32(eps), np.int32(channels), out)
    return out


def regularised_unmix(
    plate: Any, clean_plate: Any, alpha: Any, prior: Any, weight: Any
) -> cp.ndarray:
    """Twin of :func:`bgmatte.kernels.numpy_kernels.regularised_unmix`.

    F = (a * (P - (1 - a) * B) + w * F_prior) / (a² + w), 0 where a² + w = 0; unclipped.
    """
    plate, clean_plate, alpha = _f32(plate), _f32(clean_plate), _f32(alpha)
    prior, weight = _f32(prior), _f32(weight)
    channels = _checks.image(plate.shape, "plate")
    _checks.same_image(clean_plate.shape, "clean_plate", plate.shape, "plate")
    _checks.same_image(prior.shape, "prior", plate.shape, "plate")
    _checks.alpha(alpha.shape, "alpha", plate.shape, "plate")
    _checks.alpha(weight.shape, "weight", plate.shape, "plate", "weight")
    out = _cupy().empty(plate.shape, dtype=np.float32)
    _regularised_unmix_kernel()(plate, clean_plate, alpha, prior, weight, np.int32(channels), out)
    return out


def composite(foreground: Any, alpha: Any, background: Any) -> cp.ndarray:
    """Twin of :func:`bgmatte.kernels.numpy_kernels.composite`: a * F + (1 - a) * background."""
    foreground, alpha, background = _f32(foreground), _f32(alpha), _f32(background)
    channels = _checks.image(foreground.shape, "foreground")
    _checks.alpha(alpha.shape, "alpha", foreground.shape, "foreground")
    _checks.same_image(background.shape, "background", foreground.shape, "foreground")
    out = _cupy().empty(foreground.shape, dtype=np.float32)
    _composite_kernel()(foreground, alpha, background, np.int32(channels), out)
    return out
