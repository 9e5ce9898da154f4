"""The Poisson–Gaussian noise fit of the plate / clean-plate difference."""

from __future__ import annotations

import numpy as np

from bgmatte.plugin.noise import fit_noise


def test_fit_recovers_read_and_shot_variance() -> None:
    rng = np.random.default_rng(1)
    h, w = 200, 200
    signal = np.repeat(np.linspace(0.05, 2.0, w, dtype=np.float32)[None, :, None], h, 0)
    signal = np.repeat(signal, 3, 2)
    read_var, shot_var = 2e-5, 4e-4
    sigma = np.sqrt(read_var + shot_var * signal)
    diff = (sigma * rng.standard_normal(signal.shape)).astype(np.float32)
    model = fit_noise(diff, signal, np.ones((h, w), bool))
    np.testing.assert_allclose(model.shot_var, shot_var, rtol=0.15)
    np.testing.assert_allclose(model.read_var, read_var, rtol=0.5)


def test_fit_ignores_pixels_outside_the_background_mask() -> None:
    rng = np.random.default_rng(2)
    clean = np.full((100, 100, 3), 0.5, np.float32)
    diff = (0.01 * rng.standard_normal(clean.shape)).astype(np.float32)
    background = np.ones((100, 100), bool)
    background[:, :50] = False
    diff[:, :50] += 0.5  # the subject: huge differences that are not noise
    model = fit_noise(diff, clean, background)
    total = model.read_var + model.shot_var * 0.5
    np.testing.assert_allclose(np.sqrt(total), 0.01, rtol=0.2)
