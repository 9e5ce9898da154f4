"""NumPy bodies of bgmatte.kernels against the maths written out here, in float64.

The data are HDR on purpose: colours run from below 0 to well above 1, and every check
asserts that such values come out unclipped.
"""

from __future__ import annotations

import numpy as np
import pytest

from bgmatte.errors import BgmatteError
from bgmatte.kernels import numpy_kernels as nk

from .data import H, W, alphas, close, f64, hdr

# ---------------------------------------------------------------- premultiply / unpremultiply


def test_premultiply_matches_maths(rng: np.random.Generator) -> None:
    rgb, a = hdr(rng), alphas(rng)
    out = nk.premultiply(rgb, a)
    expected = np.concatenate([f64(rgb) * f64(a)[..., None], f64(a)[..., None]], axis=-1)
    close(out, expected)
    assert out.shape == (H, W, 4)


def test_premultiply_keeps_hdr_and_negative_values() -> None:
    rgb = np.array([[[5.0, -0.25, 100.0]]], np.float32)
    out = nk.premultiply(rgb, np.array([[0.5]], np.float32))
    np.testing.assert_array_equal(out, [[[2.5, -0.125, 50.0, 0.5]]])


def test_premultiply_casts_float64_input_to_float32(rng: np.random.Generator) -> None:
    out = nk.premultiply(f64(hdr(rng)), f64(alphas(rng)))
    assert out.dtype == np.float32


def test_unpremultiply_matches_maths_and_eps_branch(rng: np.random.Generator) -> None:
    rgba = np.concatenate([hdr(rng), alphas(rng)[..., None]], axis=-1)
    a = f64(rgba[..., 3:4])
    expected = np.where(a > np.float32(1e-6), f64(rgba[..., :3]) / np.where(a > 0, a, 1), 0.0)
    out = nk.unpremultiply(rgba)
    close(out, expected)
    assert out.shape == (H, W, 3)
    # a == eps is "not above eps": zero, and a == 0 gives zero without a warning
    edge = np.array([[[1.0, 2.0, 3.0, 1e-6], [4.0, 5.0, 6.0, 0.0]]], np.float32)
    np.testing.assert_array_equal(nk.unpremultiply(edge), np.zeros((1, 2, 3)))


def test_unpremultiply_custom_eps() -> None:
    rgba = np.array([[[0.2, 0.4, -0.6, 0.02]]], np.float32)
    np.testing.assert_array_equal(nk.unpremultiply(rgba, eps=0.05), np.zeros((1, 1, 3)))
    close(nk.unpremultiply(rgba, eps=0.01), np.array([[[10.0, 20.0, -30.0]]]))


def test_unpremultiply_undoes_premultiply_where_alpha_above_eps(rng: np.random.Generator) -> None:
    rgb, a = hdr(rng), alphas(rng)
    back = nk.unpremultiply(nk.premultiply(rgb, a))
    keep = a > 1e-6
    np.testing.assert_allclose(back[keep], rgb[keep], rtol=1e-6, atol=1e-6)
    assert np.all(back[~keep] == 0)


# ---------------------------------------------------------------- over / composite


def test_over_matches_maths(rng: np.random.Generator) -> None:
    rgba = np.concatenate([hdr(rng), alphas(rng)[..., None]], axis=-1)
    bg = hdr(rng)
    expected = f64(rgba[..., :3]) + (1 - f64(rgba[..., 3:4])) * f64(bg)
    close(nk.over(rgba, bg), expected)


def test_composite_matches_maths_and_ends(rng: np.random.Generator) -> None:
    fg, a, bg = hdr(rng), alphas(rng), hdr(rng)
    out = nk.composite(fg, a, bg)
    close(out, f64(a)[..., None] * f64(fg) + (1 - f64(a)[..., None]) * f64(bg))
    assert np.array_equal(out[a == 0], bg[a == 0])
    assert np.array_equal(out[a == 1], fg[a == 1])
    assert out.max() > 1 and out.min() < 0  # HDR survives


def test_over_of_premultiplied_equals_composite(rng: np.random.Generator) -> None:
    fg, a, bg = hdr(rng), alphas(rng), hdr(rng)
    close(nk.over(nk.premultiply(fg, a), bg), f64(nk.composite(fg, a, bg)), rtol=1e-5)


def test_composite_accepts_other_channel_counts(rng: np.random.Generator) -> None:
    fg, a, bg = hdr(rng, 1), alphas(rng), hdr(rng, 1)
    close(nk.composite(fg, a, bg), f64(a)[..., None] * f64(fg) + (1 - f64(a)[..., None]) * f64(bg))


# ---------------------------------------------------------------- unmix_foreground


def test_unmix_matches_maths_and_eps_branch(rng: np.random.Generator) -> None:
    plate, clean, a = hdr(rng), hdr(rng), alphas(rng)
    a64 = f64(a)[..., None]
    above = a64 > np.float32(1e-3)
    expected = np.where(above, (f64(plate) - (1 - a64) * f64(clean)) / np.where(above, a64, 1), 0)
    # float32 rounding of the numerator is amplified by 1/a: scale the tolerance with it
    atol = 1e-6 * (np.abs(f64(plate)) + np.abs(f64(clean))) / np.maximum(a64, 1e-3)
    out = nk.unmix_foreground(plate, clean, a)
    assert out.dtype == np.float32 and out.shape == (H, W, 3)
    assert np.all(np.abs(f64(out) - expected) <= 1e-6 * np.abs(expected) + atol)
    # eps branch: a == eps and below give 0; just above eps is solved
    assert np.all(out[a <= np.float32(1e-3)] == 0)
    assert np.all(out[(a > np.float32(1e-3)) & (a < 0.01)] != 0)


def test_unmix_is_unclipped() -> None:
    # P = 0.5 * F + 0.5 * B with F = (3.0, -0.4, 0.5)
    clean = np.array([[[1.0, 0.2, 0.5]]], np.float32)
    fg = np.array([[[3.0, -0.4, 0.5]]], np.float32)
    plate = 0.5 * fg + 0.5 * clean
    out = nk.unmix_foreground(plate, clean, np.array([[0.5]], np.float32))
    np.testing.assert_allclose(out, fg, rtol=1e-6)


def test_unmix_custom_eps() -> None:
    plate = np.ones((1, 1, 3), np.float32)
    clean = np.zeros((1, 1, 3), np.float32)
    a = np.array([[0.1]], np.float32)
    np.testing.assert_array_equal(nk.unmix_foreground(plate, clean, a, eps=0.2), 0)
    close(nk.unmix_foreground(plate, clean, a, eps=0.05), np.full((1, 1, 3), 10.0), rtol=1e-6)


def test_unmix_then_composite_reproduces_plate(rng: np.random.Generator) -> None:
    """The linear-light solve: a * F + (1 - a) * B == P wherever a > eps."""
    plate, clean, a = hdr(rng), hdr(rng), alphas(rng)
    fg = nk.unmix_foreground(plate, clean, a)
    again = nk.composite(fg, a, clean)
    keep = a > np.float32(1e-3)
    # 1e-5 relative to the magnitudes involved (the plate can be near 0 while B is not)
    scale = np.maximum(np.abs(plate), np.abs(clean))[keep]
    err = np.abs(f64(again[keep]) - f64(plate[keep]))
    assert np.all(err <= 1e-5 * scale + 1e-7), err.max()
    assert keep.sum() > 0.9 * keep.size


# ---------------------------------------------------------------- regularised_unmix


def test_regularised_unmix_matches_maths(rng: np.random.Generator) -> None:
    plate, clean, prior, a = hdr(rng), hdr(rng), hdr(rng), alphas(rng)
    w = rng.uniform(0.0, 2.0, a.shape).astype(np.float32)
    a64, w64 = f64(a)[..., None], f64(w)[..., None]
    expected = (a64 * (f64(plate) - (1 - a64) * f64(clean)) + w64 * f64(prior)) / (a64**2 + w64)
    out = nk.regularised_unmix(plate, clean, a, prior, w)
    assert out.dtype == np.float32 and out.shape == (H, W, 3)
    atol = 1e-5 * (np.abs(f64(plate)) + np.abs(f64(clean)) + np.abs(f64(prior)))
    assert np.all(np.abs(f64(out) - expected) <= atol / np.maximum(a64**2 + w64, 1e-3))


def test_regularised_unmix_limits() -> None:
    """No prior weight: the exact unmix; alpha 0: the prior; neither: 0."""
    clean = np.full((1, 3, 3), 20.0, np.float32)  # an HDR background
    fg = np.array([3.0, -0.4, 0.5], np.float32)
    a = np.array([[0.5, 0.0, 0.0]], np.float32)
    plate = a[..., None] * fg + (1 - a[..., None]) * clean
    prior = np.full((1, 3, 3), 0.25, np.float32)
    w = np.array([[0.0, 0.3, 0.0]], np.float32)
    out = nk.regularised_unmix(plate, clean, a, prior, w)
    np.testing.assert_allclose(out[0, 0], fg, rtol=1e-6)
    np.testing.assert_array_equal(out[0, 1], prior[0, 1])
    np.testing.assert_array_equal(out[0, 2], 0.0)


# ---------------------------------------------------------------- bad shapes


def test_shape_errors_name_the_input(rng: np.random.Generator) -> None:
    plate = hdr(rng)
    with pytest.raises(BgmatteError, match=r"^alpha: expected an H×W alpha"):
        nk.unmix_foreground(plate, plate, np.zeros((H, W + 1), np.float32))
    with pytest.raises(BgmatteError, match=r"^prior: shape \(7, 9, 4\) does not match"):
        nk.regularised_unmix(plate, plate, plate[..., 0], hdr(rng, 4), plate[..., 0])
    with pytest.raises(BgmatteError) as info:
        nk.regularised_unmix(plate, plate, plate[..., 0], plate, plate[:, 1:, 0])
    assert str(info.value) == (
        "weight: expected an H×W weight matching plate (7, 9), got (7, 8); "
        "pass a single-channel H×W float32 array of the image's size"
    )
    with pytest.raises(BgmatteError, match=r"^rgba: expected a H×W×4"):
        nk.unpremultiply(plate)
