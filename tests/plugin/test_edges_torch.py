""":mod:`bgmatte.plugin.edges_torch`: the edge passes as torch operations, against the NumPy
strips of :mod:`bgmatte.plugin.edges` (on the CPU here; on a GPU in the gpu tests)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bgmatte.plugin import edges, edges_torch
from tests.plugin.test_edges import _shot, _soft_mass, _strands


def _frame(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strands on the left and on the right of a tall frame, keyed as a soft mass: the band
    crosses strips, boxes and the frame's border."""
    rng = np.random.default_rng(seed)
    gap = np.zeros((200, 70), np.float32)
    truth = np.concatenate([_strands(rng, 200, 60, 8), gap, _strands(rng, 200, 50, 6)], 1)
    plate, clean = _shot(rng, truth, np.array([0.7, 0.6, 0.1], np.float32))
    return plate, clean, _soft_mass(truth)


def test_noise_sigma_is_the_numpy_one() -> None:
    plate, clean, alpha = _frame(5)
    d = torch.from_numpy(plate - clean).permute(2, 0, 1)
    got = edges_torch.noise_sigma(d, torch.from_numpy(alpha)).numpy()
    np.testing.assert_allclose(got, edges.noise_sigma(plate, clean, alpha), rtol=1e-5)


@pytest.mark.parametrize("passes", [1, 3, 8])
def test_the_twin_solves_what_the_strips_solve(passes: int) -> None:
    plate, clean, alpha = _frame(6)
    want = edges.solve_edges(plate, clean, alpha, passes)
    got = edges_torch.solve_edges_on(torch.device("cpu"), plate, clean, alpha, passes)
    assert got.dtype == np.float32 and got.shape == alpha.shape
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(got - alpha).max() > 0.1  # it did change the band


def test_no_passes_or_no_band_leave_alpha_as_it_is() -> None:
    plate, clean, alpha = _frame(7)
    cpu = torch.device("cpu")
    assert edges_torch.solve_edges_on(cpu, plate, clean, alpha, 0) is alpha
    hard = (alpha > 0.5).astype(np.float32)
    np.testing.assert_array_equal(edges_torch.solve_edges_on(cpu, plate, clean, hard, 8), hard)
