"""The torch twins of the per-pixel stages on a CUDA GPU against the CPU's NumPy stages (the
edge passes, the unmix with its prior); skipped visibly without one. On the CPU the twins are
tested in ``test_edges_torch.py`` and ``test_foreground_torch.py``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bgmatte import kernels
from bgmatte.plugin import edges, edges_torch, solve
from tests.plugin.test_edges_torch import _frame

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not (torch.cuda.is_available() and kernels.cupy_available()),
        reason="needs a CUDA GPU with CuPy",
    ),
]


def test_the_edge_passes_on_the_gpu_are_the_cpu_s() -> None:
    plate, clean, alpha = _frame(8)
    want = edges.solve_edges(plate, clean, alpha, 8)
    got = edges_torch.solve_edges_on(torch.device("cuda"), plate, clean, alpha, 8)
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("mode", ["regularised", "exact"])
def test_the_unmix_on_the_gpu_is_the_cpu_s(mode: str) -> None:
    plate, clean, alpha = _frame(9)
    background = np.full_like(plate, 4.0)  # HDR
    fg_cpu, comp_cpu = solve.unmix(plate, clean, alpha, background, "cpu", mode)
    fg_gpu, comp_gpu = solve.unmix(plate, clean, alpha, background, "cuda", mode)
    assert isinstance(fg_gpu, np.ndarray) and isinstance(comp_gpu, np.ndarray)
    np.testing.assert_allclose(fg_gpu, fg_cpu, rtol=1e-4, atol=1e-4)
    assert comp_cpu is not None
    np.testing.assert_allclose(comp_gpu, comp_cpu, rtol=1e-4, atol=1e-4)
