""":mod:`bgmatte.plugin.uploads`: a frame's arrays sent to the device once per solve."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bgmatte
from bgmatte.bench.scenes.demo_shot import DemoShot
from bgmatte.plugin import solve, uploads

CPU = torch.device("cpu")


def test_within_a_scope_an_array_goes_up_once() -> None:
    a, b = np.ones((4, 5, 3), np.float32), np.zeros((4, 5), np.float64)
    with uploads.scope():
        first = uploads.to_device(a, CPU)
        assert uploads.to_device(a, CPU) is first
        other = uploads.to_device(b, CPU)
        assert other.dtype == torch.float32 and other is not first
        with uploads.scope():  # nested: the outer scope's uploads
            assert uploads.to_device(a, CPU) is first
        assert uploads.kept() == 2
    assert uploads.kept() == 0
    assert uploads.to_device(a, CPU) is not first  # outside a scope: sent again
    np.testing.assert_array_equal(uploads.to_device(a, CPU).numpy(), a)


def test_the_node_solves_a_frame_inside_a_scope(
    small_shot: DemoShot, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []
    real = solve.solve_edges

    def spy(*args: object) -> np.ndarray:
        seen.append(uploads._local.held is not None)
        return real(*args)

    monkeypatch.setattr(solve, "solve_edges", spy)
    bgmatte.matte(small_shot.plate, small_shot.clean_plate, separate_shadows=False)
    assert seen == [True]
    assert uploads.kept() == 0


def test_the_network_s_frames_are_the_uploads_the_later_stages_take() -> None:
    # without the derived prior (prior none) the network's buffer is filled from host arrays:
    # on a device they go up once, and the edge passes and the unmix reuse them (on 'meta',
    # a device without memory, which stands in for a GPU here)
    from bgmatte.plugin.engines import network

    meta = torch.device("meta")
    plate, clean = np.ones((6, 8, 3), np.float32), np.zeros((6, 8, 3), np.float32)
    with uploads.scope():
        network._padded(plate, clean, None, (8, 8), meta)
        assert uploads.kept() == 2
        sent = uploads.to_device(plate, meta)
        assert uploads.to_device(plate, meta) is sent and uploads.kept() == 2
