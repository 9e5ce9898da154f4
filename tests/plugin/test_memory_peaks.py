"""Peak memory of the frame-sized NumPy stages, in frames (``tracemalloc``: NumPy reports
its buffers to it, so the figures are exact and the same on every machine). Issue 15 asks for
a peak no higher than RVM's; these hold what was won."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from bgmatte.plugin import foreground
from bgmatte.plugin.engines import classical
from bgmatte.plugin.noise import NoiseModel
from bgmatte.plugin.solve import unmix

H, W = 1024, 256


@pytest.fixture()
def frames() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    plate = rng.random((H, W, 3), dtype=np.float32)
    clean = rng.random((H, W, 3), dtype=np.float32)
    return plate, clean, rng.random((H, W), dtype=np.float32)


@pytest.fixture()
def traced() -> Iterator[None]:
    tracemalloc.start()
    yield
    tracemalloc.stop()


def _peak_in_frames(call: Callable[[], object], frame_bytes: int) -> float:
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    call()
    return (tracemalloc.get_traced_memory()[1] - base) / frame_bytes


@pytest.mark.usefixtures("traced")
def test_shifted_noise_distance_holds_rows_not_bands(frames: tuple[np.ndarray, ...]) -> None:
    plate, clean, _ = frames
    model = NoiseModel(*(np.full(3, v, np.float32) for v in (1e-4, 1e-3, 1e-4)))
    # measured 0.88 frames (the result and each thread's chunk of rows); 1.76 with the clean
    # plate padded whole first, 4.40 when each thread held its whole band's rows at once
    assert (
        _peak_in_frames(lambda: classical._noise_distance(plate, clean, model, 2), plate.nbytes)
        < 1.3
    )


@pytest.mark.usefixtures("traced")
def test_foreground_fill_reuses_the_premultiplied_buffer(frames: tuple[np.ndarray, ...]) -> None:
    plate, clean, alpha = frames
    # measured 3.02 frames; 3.95 with the whole band's temporaries at once (one band per
    # thread) and the result in a buffer of its own, 4.95 with the pyramid's finest level too
    peak = _peak_in_frames(lambda: foreground.prior_and_weight(plate, clean, alpha), plate.nbytes)
    assert peak < 3.4


@pytest.mark.usefixtures("traced")
def test_unmix_writes_the_foreground_over_its_prior(frames: tuple[np.ndarray, ...]) -> None:
    plate, clean, alpha = frames
    # measured 3.02 frames (the prior's peak: its buffer becomes the foreground); 4.55 with the
    # foreground in a buffer of its own and each thread's whole band of temporaries at once
    peak = _peak_in_frames(lambda: unmix(plate, clean, alpha, None), plate.nbytes)
    assert peak < 3.4
