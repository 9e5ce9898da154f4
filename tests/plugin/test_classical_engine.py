"""The classical engine's fast building blocks equal the plain forms they replace."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bgmatte.kernels import keying as kernels
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
        full, coarse = (
            classical._blur(img, sigma),
            classical._blur_halved(classical.halve(img), sigma, img.shape),
        )
        assert coarse.shape == img.shape
        err = np.abs(coarse - full)
        assert err.max() < 0.05 * np.abs(full).max() and err.mean() < 0.005 * np.abs(full).max()


@pytest.mark.parametrize("r", [1, 2])
@pytest.mark.parametrize("corner", [(0, 0), (30, 50)])
def test_noise_distance_over_a_box_equals_the_frame_cut(r: int, corner: tuple[int, int]) -> None:
    rng = np.random.default_rng(r)
    plate = rng.random((40, 60, 3), dtype=np.float32) * 2.0
    clean = np.roll(plate, (r, -1), (0, 1)) + rng.normal(0, 0.02, plate.shape).astype(np.float32)
    model = NoiseModel(np.full(3, 1e-4), np.full(3, 1e-3), np.full(3, 1e-4))
    y, x = corner  # a box at the frame's edge, and one inside it
    box = slice(y, y + 10), slice(x, x + 10)
    frame = classical._noise_distance(plate, clean, model, r)
    got = classical._noise_distance(plate, clean, model, r, box)
    np.testing.assert_array_equal(got, frame[box])


def _plain_key(plate: np.ndarray, clean: np.ndarray, model: NoiseModel, params: dict) -> np.ndarray:
    """The key with the shifts minimised over the whole frame (what the box saves)."""
    z = classical._noise_distance(plate, clean, model, int(params["shift_tolerance"]))
    lo = params["threshold"]
    key = kernels.smoothstep(z, lo, lo + params["softness"])
    solid = classical._dilate(classical._erode(key > 0.5, 1), 1)
    return key * classical._dilate(solid, 2)


@pytest.mark.parametrize("seed", range(4))
def test_key_with_shifts_in_a_box_equals_shifts_everywhere(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = 64, 80
    clean = np.repeat(rng.random((h, w, 1), dtype=np.float32), 3, axis=2) + 0.2
    plate = _shifted(clean, 1, 0) + rng.normal(0, 0.01, clean.shape).astype(np.float32)
    y, x = rng.integers(0, h - 10), rng.integers(0, w - 10)
    plate[y : y + 20, x : x + 25] += 0.5  # a subject, touching an edge for some seeds
    plate[rng.integers(0, h, 30), rng.integers(0, w, 30)] += 0.3  # specks the opening removes
    model = NoiseModel(np.full(3, 1e-4), np.zeros(3), np.full(3, 1e-4))
    params = {"threshold": 4.0, "softness": 8.0, "shift_tolerance": 1}
    got = classical._shift_tolerant_key(plate, clean, model, params)
    want = _plain_key(plate, clean, model, params)
    assert want.max() == 1.0 and (want == 0).mean() > 0.5  # a subject, and background
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("centre", [(200, 300), (20, 560), (380, 30), (200, 530), (370, 575)])
def test_colour_fill_over_its_reach_equals_the_frame_fill(
    centre: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fill's blurs over the band's box and their reach give the frame's values to the
    bit, inside the frame and where the box meets its edges."""
    rng = np.random.default_rng(8)
    h, w = 400, 600
    colours = rng.random((h, w, 3), dtype=np.float32) * 4.0
    y, x = np.mgrid[0:h, 0:w]
    core = (y - centre[0]) ** 2 + (x - centre[1]) ** 2 < 40**2
    band = classical._dilate(core, 12) & ~core
    at = np.flatnonzero(band)
    box = classical._reach_box(at, core.shape)
    assert box is not None and (box[0][1] - box[0][0]) * (box[1][1] - box[1][0]) < h * w / 2
    got = classical._fill_from(colours, core, at)
    monkeypatch.setattr(classical, "_reach_box", lambda at, shape: None)
    want = classical._fill_from(colours, core, at)
    for a, b in zip(got, want, strict=True):
        assert np.array_equal(a, b)


def test_key_with_shifts_in_strips_equals_shifts_everywhere() -> None:
    """Two subjects far apart, over several strips: each strip's shifts cover its own
    columns only, and the key is still the one of shifts everywhere, to the bit."""
    rng = np.random.default_rng(11)
    h, w = 300, 160
    clean = np.repeat(rng.random((h, w, 1), dtype=np.float32), 3, axis=2) + 0.2
    plate = _shifted(clean, 1, 0) + rng.normal(0, 0.01, clean.shape).astype(np.float32)
    y, x = np.mgrid[0:h, 0:w]
    for cy, cx in ((30, 25), (250, 130)):
        plate[(y - cy) ** 2 + (x - cx) ** 2 < 22**2] += 0.5
    model = NoiseModel(np.full(3, 1e-4), np.zeros(3), np.full(3, 1e-4))
    params = {"threshold": 4.0, "softness": 8.0, "shift_tolerance": 1}
    assert h > 2 * classical._STRIP
    got = classical._shift_tolerant_key(plate, clean, model, params)
    want = _plain_key(plate, clean, model, params)
    assert want.max() == 1.0 and (want == 0).mean() > 0.5
    np.testing.assert_array_equal(got, want)
