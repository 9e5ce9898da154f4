"""The parallax and temporal benchmarks print their tables; the temporal floor is right."""

from __future__ import annotations

import numpy as np
import pytest

from bgmatte.bench import metrics
from bgmatte.bench.scenes.moving import make_moving_shot


def test_bench_parallax_prints_background_and_subject(capsys: pytest.CaptureFixture[str]) -> None:
    from bgmatte.bench.parallax import parallax_shots

    rows = parallax_shots(1, 128, 160, [3.0], ["classical"], seed=1, extra={})
    assert rows[0]["subject"] > 0.9 and 0.0 <= rows[0]["background"] < 0.5
    assert "| 3.0 | classical |" in capsys.readouterr().out


def test_bench_temporal_prints_flicker_and_sad(capsys: pytest.CaptureFixture[str]) -> None:
    from bgmatte.bench.temporal import temporal

    rows = temporal(3, 48, 64, [0.5], [1], seed=2, extra={"engine": "classical"})
    assert [r["radius"] for r in rows] == [0, 1]
    assert rows[0]["ratio"] == 1.0 and rows[1]["dtssd"] > 0.0
    assert 0.0 < rows[0]["floor"] == rows[1]["floor"]
    assert "| 0.50 | 1 |" in capsys.readouterr().out


def test_steady_floor_is_zero_for_the_truth_and_the_dtssd_of_a_steady_error() -> None:
    from bgmatte.bench.temporal import steady_floor

    shot = make_moving_shot(4, height=48, width=64, speed=1.0, seed=3)
    assert steady_floor(shot, shot.alphas) == 0.0
    # A steady mistake (the soft half of the subject lost in frame 0's matte, and that loss
    # moving with the subject) flickers not at all, yet its dtSSD, and the floor, are > 0.
    error = np.where(shot.alphas[0] < 0.5, -shot.alphas[0], 0.0)
    steady = [t + shot.carried(error, 0, i) for i, t in enumerate(shot.alphas)]
    assert steady_floor(shot, steady) == pytest.approx(metrics.dtssd(steady, shot.alphas), rel=0.1)
    assert steady_floor(shot, steady) > 0.5
