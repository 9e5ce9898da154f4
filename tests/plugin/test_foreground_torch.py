""":mod:`bgmatte.plugin.foreground_torch`: the regularised unmix's prior in torch, against
:mod:`bgmatte.plugin.foreground` (on the CPU here; on a GPU in the gpu tests)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from bgmatte.plugin import foreground, foreground_torch


def _chw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).permute(2, 0, 1)


@pytest.mark.parametrize("size", [(9, 9), (37, 53), (64, 80), (121, 160)])
def test_pyr_down_is_opencv_s(size: tuple[int, int]) -> None:
    x = np.random.default_rng(0).random((*size, 3)).astype(np.float32)
    got = foreground_torch.pyr_down(_chw(x)).permute(1, 2, 0).numpy()
    np.testing.assert_allclose(got, cv2.pyrDown(x), atol=1e-6)


@pytest.mark.parametrize("size", [(37, 53), (121, 160)])
def test_prior_and_weight_are_the_numpy_ones(size: tuple[int, int]) -> None:
    # HDR clean plate, alpha with solid, clear and fractional pixels
    rng = np.random.default_rng(1)
    plate = (rng.random((*size, 3)) * 2).astype(np.float32)
    clean = (rng.random((*size, 3)) * 30).astype(np.float32)
    alpha = np.clip(rng.random(size) * 1.4 - 0.2, 0, 1).astype(np.float32)
    want_prior, want_weight = foreground.prior_and_weight(plate, clean, alpha)
    prior, weight = foreground_torch.prior_and_weight(
        _chw(plate), _chw(clean), torch.from_numpy(alpha)
    )
    np.testing.assert_allclose(prior.permute(1, 2, 0).numpy(), want_prior, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(weight.numpy(), want_weight, rtol=1e-5, atol=1e-6)
