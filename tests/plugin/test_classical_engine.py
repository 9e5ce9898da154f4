"""The classical engine's fast building blocks equal the plain forms they replace."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bgmatte.kernels import numpy_kernels as kernels
from bgmatte.plugin.engines import classical
from bgmatte.plugin.noise import NoiseModel


def _shifted(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """The clean plate moved by (dy, dx), edges replicated."""
    h, w = img.shape[:2]
    big = np.pad(img, ((abs(dy), abs(dy)), (abs(dx), abs(dx)), (0, 0)), mode="edge")
    y0, x0 = abs(dy) - dy, abs(dx) - dx
    return big[y0 : y0 + h, x0 : x0 + w]


@pytest.mark.parametrize("r", [0, 1, 2])
def test_noise_distance_is_the_kernel_minimised_over_shifts(r: int) -> None:
    rng = np.random.default_rng(r)
    plate = rng.random((23, 31, 3), dtype=np.float32) * 3.0
    clean = np.roll(plate, (1, -1), (0, 1)) + rng.normal(0, 0.01, plate.shape).astype(np.float32)
    model = NoiseModel(
        read_var=np.array([1e-5, 2e-5, 3e-5]),
        shot_var=np.array([1e-4, 0.0, 2e-4]),
        gain_var=np.array([0.0, 1e-4, 1e-5]),
    )
    want = np.full(plate.shape[:2], np.inf, np.float32)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            c = _shifted(clean, dy, dx)
            z = kernels.noise_distance(plate - c, c, model.read_var, model.shot_var, model.gain_var)
            want = np.minimum(want, z)
    got = classical._noise_distance(plate, clean, model, r)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    unshifted = kernels.noise_distance(
        plate - clean, clean, model.read_var, model.shot_var, model.gain_var
    )
    assert np.median(unshifted) > 30.0  # the clean plate is 1 px off
    if r:  # within the tolerance that offset is found: distances at the noise level
        assert np.median(got[3:-3, 3:-3]) < 3.0


def test_morphology_matches_scipy_including_the_borders() -> None:
    rng = np.random.default_rng(0)
    for _ in range(10):
        mask = ndimage.gaussian_filter(rng.random((40, 52)), 2.0) > 0.5
        mask[0, :] = True  # touches the border: scipy counts the outside as 0
        for n in (1, 2, 12):
            assert np.array_equal(
                classical._erode(mask, n), ndimage.binary_erosion(mask, iterations=n)
            )
            assert np.array_equal(
                classical._dilate(mask, n), ndimage.binary_dilation(mask, iterations=n)
            )


@pytest.mark.parametrize("sigma", [6.0, 12.0])
def test_wide_blurs_at_half_resolution_stay_close_to_the_full_blur(sigma: float) -> None:
    rng = np.random.default_rng(2)
    mask = (rng.random((121, 203)) < 0.3).astype(np.float32)  # the hardest input: pixel noise
    colours = rng.uniform(0.0, 4.0, (121, 203, 3)).astype(np.float32) * mask[..., None]
    for img in (mask, colours):
        full, coarse = classical._blur(img, sigma), classical._blur_coarse(img, sigma)
        assert coarse.shape == img.shape
        err = np.abs(coarse - full)
        assert err.max() < 0.05 * np.abs(full).max() and err.mean() < 0.005 * np.abs(full).max()
