"""The classical key's maths (bgmatte.kernels.keying) against the maths written out here,
in float64.

The data are HDR on purpose: colours run from below 0 to well above 1, and every check
asserts that such values come out unclipped.
"""

from __future__ import annotations

import numpy as np
import pytest

from bgmatte.errors import BgmatteError
from bgmatte.kernels import keying as ky
from bgmatte.kernels import numpy_kernels as nk

from .data import H, W, alphas, close, f64, hdr

# ---------------------------------------------------------------- noise_distance


def test_noise_distance_matches_maths(rng: np.random.Generator) -> None:
    diff, clean = rng.normal(0, 0.1, (H, W, 3)).astype(np.float32), hdr(rng)
    rv, sv = [1e-4, 2e-4, 3e-4], [1e-3, 2e-3, 0.0]
    out = ky.noise_distance(diff, clean, rv, sv)
    var = np.array(rv) + np.array(sv) * np.maximum(f64(clean), 0)
    close(out, np.sqrt(np.sum(f64(diff) ** 2 / var, axis=-1)), rtol=1e-5)
    assert out.shape == (H, W)


def test_noise_distance_gain_term_matches_maths(rng: np.random.Generator) -> None:
    diff, clean = rng.normal(0, 0.1, (H, W, 3)).astype(np.float32), hdr(rng)
    rv, sv, gv = [1e-4, 2e-4, 3e-4], [1e-3, 2e-3, 0.0], [1e-4, 0.0, 4e-4]
    out = ky.noise_distance(diff, clean, rv, sv, gv)
    c = f64(clean)
    var = np.array(rv) + np.array(sv) * np.maximum(c, 0) + np.array(gv) * c * c
    close(out, np.sqrt(np.sum(f64(diff) ** 2 / var, axis=-1)), rtol=1e-5)
    # Without the gain term, the bright pixels would read as far more than noise.
    assert np.all(out <= ky.noise_distance(diff, clean, rv, sv) + 1e-6)


def test_noise_distance_negative_clean_plate_uses_read_noise_only() -> None:
    diff = np.full((1, 1, 3), 0.03, np.float32)
    clean = np.full((1, 1, 3), -2.0, np.float32)
    out = ky.noise_distance(diff, clean, np.full(3, 1e-4), np.full(3, 1.0))
    close(out, np.array([[np.sqrt(3 * 0.03**2 / 1e-4)]]), rtol=1e-5)


def test_noise_distance_is_about_sqrt_channels_on_pure_noise() -> None:
    """Plate and clean plate that differ by Poisson–Gaussian noise only: E[dist^2] = C."""
    rng = np.random.default_rng(7)
    clean = rng.uniform(0.0, 4.0, (128, 128, 3)).astype(np.float32)
    rv, sv = np.array([4e-4, 3e-4, 5e-4]), np.array([2e-3, 1e-3, 3e-3])
    noise = rng.normal(0, 1, clean.shape) * np.sqrt(2 * (rv + sv * clean))  # both plates noisy
    diff = noise.astype(np.float32)
    dist = ky.noise_distance(diff, clean, 2 * rv, 2 * sv)
    assert abs(float(np.mean(dist.astype(np.float64) ** 2)) - 3.0) < 0.1


@pytest.mark.parametrize(
    ("read_var", "shot_var", "name"),
    [([0, 1e-4, 1e-4], [0, 0, 0], "read_var"), ([1e-4] * 3, [0, -1, 0], "shot_var")],
)
def test_noise_distance_refuses_bad_variances(read_var: list, shot_var: list, name: str) -> None:
    z = np.zeros((2, 2, 3), np.float32)
    with pytest.raises(BgmatteError, match=f"^{name}: "):
        ky.noise_distance(z, z, read_var, shot_var)


# ---------------------------------------------------------------- smoothstep


def test_smoothstep_matches_maths(rng: np.random.Generator) -> None:
    x = rng.uniform(-2, 5, (H, W)).astype(np.float32)
    t = np.clip((f64(x) - 0.5) / (3.0 - 0.5), 0, 1)
    out = ky.smoothstep(x, 0.5, 3.0)
    close(out, t * t * (3 - 2 * t))
    assert out.min() == 0 and out.max() == 1


def test_smoothstep_edges_shapes_and_falling_step() -> None:
    np.testing.assert_array_equal(ky.smoothstep(np.array([0.0, 1.0, 2.0, 3.0]), 1, 2), [0, 0, 1, 1])
    close(ky.smoothstep(np.array([1.5], np.float32), 1, 2), np.array([0.5]))
    assert ky.smoothstep(np.float32(0.25), 0, 1).shape == ()
    assert ky.smoothstep(np.zeros((2, 3, 4)), 0, 1).shape == (2, 3, 4)
    np.testing.assert_array_equal(ky.smoothstep(np.array([0.0, 2.0]), 2, 0), [1, 0])
    with pytest.raises(BgmatteError, match=r"^lo/hi: "):
        ky.smoothstep(np.zeros(3), 1.0, 1.0)


# ---------------------------------------------------------------- project_alpha


def test_project_alpha_matches_maths(rng: np.random.Generator) -> None:
    plate, clean, fg = hdr(rng), hdr(rng), hdr(rng)
    fb = f64(fg) - f64(clean)
    num = np.sum((f64(plate) - f64(clean)) * fb, axis=-1)
    expected = np.clip(num / np.maximum(np.sum(fb * fb, axis=-1), 1e-8), 0, 1)
    out = ky.project_alpha(plate, clean, fg)
    close(out, expected, rtol=1e-5, atol=1e-5)
    assert out.shape == (H, W) and out.min() >= 0 and out.max() <= 1


def test_project_alpha_recovers_alpha_of_a_composite(rng: np.random.Generator) -> None:
    clean, a = hdr(rng), alphas(rng)
    fg = clean + rng.choice([-1.0, 1.0], clean.shape).astype(np.float32) * 0.5
    plate = nk.composite(fg, a, clean)
    np.testing.assert_allclose(ky.project_alpha(plate, clean, fg), a, atol=1e-5)


def test_project_alpha_degenerate_foreground_gives_zero() -> None:
    clean = np.full((1, 2, 3), 0.3, np.float32)
    plate = np.full((1, 2, 3), 0.9, np.float32)
    np.testing.assert_array_equal(ky.project_alpha(plate, clean, clean), [[0.0, 0.0]])
