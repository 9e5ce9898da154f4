"""Exposure / white-balance drift estimation, including a subject that fills the frame."""

from __future__ import annotations

import numpy as np

from bgmatte.plugin.exposure import estimate_gain


def _scene(fill: float, gain: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    h, w = 120, 160
    clean = (0.2 + 0.6 * rng.random((h, w, 3))).astype(np.float32)
    plate = clean * gain
    # A subject with its own varied colours covering `fill` of the frame (left part).
    cut = int(w * fill)
    plate[:, :cut] = (0.05 + 1.5 * rng.random((h, cut, 3))).astype(np.float32)
    noise = 0.003 * rng.standard_normal(plate.shape)
    return (plate + noise).astype(np.float32), clean


def test_gain_recovered_with_small_subject() -> None:
    gain = np.array([1.12, 1.0, 0.9], np.float32)
    plate, clean = _scene(0.2, gain)
    np.testing.assert_allclose(estimate_gain(plate, clean), gain, rtol=0.01)


def test_gain_recovered_when_subject_fills_most_of_the_frame() -> None:
    gain = np.array([0.84, 0.86, 0.83], np.float32)  # about a quarter stop down, slight WB
    plate, clean = _scene(0.8, gain)
    # The naive estimate this replaces is far off here...
    naive = np.median(plate / clean, axis=(0, 1))
    assert np.max(np.abs(naive / gain - 1)) > 0.1
    # ...the histogram-mode estimate is not.
    np.testing.assert_allclose(estimate_gain(plate, clean), gain, rtol=0.01)


def test_black_frame_gives_unit_gain() -> None:
    z = np.zeros((32, 32, 3), np.float32)
    np.testing.assert_array_equal(estimate_gain(z, z), np.ones(3, np.float32))
