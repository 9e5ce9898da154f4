"""The regularised foreground solve (``unmix=regularised``, the default): exact solid cores,
a plausible colour where alpha is small or wrong, and the plain unmix on request."""

from __future__ import annotations

import numpy as np

import bgmatte
from bgmatte import kernels
from bgmatte.bench.scenes.demo_shot import DemoShot
from bgmatte.plugin import foreground
from bgmatte.plugin.solve import unmix

SUBJECT = np.array([0.4, 0.2, 0.1], np.float32)


def _disc_shot(
    background: float, highlight: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A solid disc with a soft band (true alpha 0.6) around it, over a flat background."""
    h = w = 64
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - 32, xx - 32)
    alpha = np.where(r < 12, 1.0, np.where(r < 16, 0.6, 0.0)).astype(np.float32)
    clean = np.full((h, w, 3), background, np.float32)
    fg = np.broadcast_to(SUBJECT, (h, w, 3)).astype(np.float32)
    if highlight:
        fg[30:34, 28:36] = 8.0  # an HDR highlight in the core
    plate = alpha[..., None] * fg + (1 - alpha[..., None]) * clean
    return plate, clean, alpha, fg


def test_solid_core_is_the_plate_to_the_bit() -> None:
    plate, clean, alpha, _ = _disc_shot(0.3, highlight=True)
    fg, _ = unmix(plate, clean, alpha, None)
    core = alpha == 1.0
    np.testing.assert_array_equal(fg[core], plate[core])
    assert fg[core].max() == 8.0  # HDR survives


def test_where_alpha_is_zero_the_subjects_colour_is_filled_in() -> None:
    plate, clean, alpha, _ = _disc_shot(0.3)
    band = (alpha > 0) & (alpha < 1)
    fg, _ = unmix(plate, clean, alpha, None)
    np.testing.assert_allclose(
        fg[alpha == 0.0], np.broadcast_to(SUBJECT, (int((alpha == 0).sum()), 3)), atol=1e-3
    )
    np.testing.assert_allclose(fg[band], np.broadcast_to(SUBJECT, (int(band.sum()), 3)), atol=1e-3)


def test_a_wrong_alpha_over_a_bright_background_keeps_the_subjects_colour() -> None:
    """Fur over a sky at 20.0, keyed at 0.05 where the truth is 0.6: the exact unmix gives a
    colour of about -200, which composites as a black hole; the regularised solve stays
    within 0.02 of the subject's colour."""
    plate, clean, alpha, _ = _disc_shot(20.0)
    keyed = np.where((alpha > 0) & (alpha < 1), np.float32(0.05), alpha)
    band = (alpha > 0) & (alpha < 1)
    exact, _ = unmix(plate, clean, keyed, None, mode="exact")
    assert exact[band].min() < -100.0
    fg, _ = unmix(plate, clean, keyed, None)
    assert np.abs(fg[band] - SUBJECT).max() < 0.02


def test_soft_edges_reconstruct_the_plate_within_the_noise_model(small_shot: DemoShot) -> None:
    m = bgmatte.matte(small_shot.plate, small_shot.clean_plate, engine="classical")
    a = m.alpha[..., None]
    recon = a * m.foreground + (1.0 - a) * m.clean_plate
    soft = (m.alpha > 0) & (m.alpha < 1)
    sigma = foreground.residual_sigma(m.clean_plate, m.alpha)[soft]
    err = np.abs(recon - small_shot.plate)[soft].max(axis=1)
    assert soft.sum() > 100
    assert np.median(err / sigma) < 0.5 and np.mean(err / sigma < 3.0) > 0.99


def test_exact_mode_is_the_plain_unmix(small_shot: DemoShot) -> None:
    m = bgmatte.matte(small_shot.plate, small_shot.clean_plate, engine="classical", unmix="exact")
    expected = kernels.unmix_foreground(small_shot.plate, m.clean_plate, m.alpha)
    np.testing.assert_array_equal(m.foreground, expected)


def test_fill_of_a_tiny_frame_is_the_weighted_mean() -> None:
    alpha = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)
    premultiplied = np.zeros((2, 2, 3), np.float32)
    premultiplied[0, 0] = SUBJECT
    sigma = np.full((2, 2), 0.02, np.float32)
    got = foreground.fill(premultiplied, alpha, sigma)
    np.testing.assert_allclose(got, np.broadcast_to(SUBJECT, (2, 2, 3)), rtol=1e-5)
