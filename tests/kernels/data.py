"""Test data for the kernels: small HDR images and alphas, and float64 comparisons."""

from __future__ import annotations

import numpy as np

H, W = 7, 9


def hdr(rng: np.random.Generator, channels: int = 3) -> np.ndarray:
    """An HDR float32 image with negatives and values far above 1."""
    return rng.uniform(-0.5, 6.0, (H, W, channels)).astype(np.float32)


def alphas(rng: np.random.Generator) -> np.ndarray:
    """Alpha in [0, 1] with exact 0, exact 1 and values around the eps thresholds."""
    a = rng.uniform(0.0, 1.0, (H, W)).astype(np.float32)
    a.flat[:8] = [0.0, 1.0, 1e-7, 1e-6, 1e-3, 2e-3, 0.5, 1e-5]
    return a


def close(actual: np.ndarray, expected: np.ndarray, rtol: float = 2e-6, atol: float = 1e-6) -> None:
    assert actual.dtype == np.float32
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual.astype(np.float64), expected, rtol=rtol, atol=atol)


def f64(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64)
