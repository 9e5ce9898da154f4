"""Temporal stability: fixed-window filtering, render-order independence, flicker."""

from __future__ import annotations

import re

import numpy as np
import pytest

from bgmatte.bench import metrics
from bgmatte.bench.scenes.moving import MovingShot, make_moving_shot
from bgmatte.errors import BgmatteError
from bgmatte.plugin.node import Node

from .frames import Frames

N = 6
CLASSICAL = {"engine": "classical", "output": "alpha"}


@pytest.fixture(scope="module")
def shot() -> MovingShot:
    return make_moving_shot(N, height=72, width=128, speed=0.5, seed=4)


def _fetcher(shot: MovingShot) -> Frames:
    return Frames(plate={i + 1: p for i, p in enumerate(shot.plates)}, clean_plate=shot.clean_plate)


def _alphas(node: Node, fetcher: Frames, frames: list[int]) -> dict[int, np.ndarray]:
    return {f: node.render(f, fetcher)["alpha"][..., 0] for f in frames}


def test_render_order_and_chunks_do_not_matter(shot: MovingShot) -> None:
    params = {**CLASSICAL, "temporal_radius": 1}
    fetcher = _fetcher(shot)
    forward = _alphas(Node(params), fetcher, list(range(1, N + 1)))
    backward = _alphas(Node(params), fetcher, list(range(N, 0, -1)))
    chunks = {
        **_alphas(Node(params), fetcher, [4, 5, 6]),
        **_alphas(Node(params), fetcher, [1, 2, 3]),
    }
    for f in range(1, N + 1):
        np.testing.assert_array_equal(forward[f], backward[f])
        np.testing.assert_array_equal(forward[f], chunks[f])
    alone = _alphas(Node(CLASSICAL), fetcher, [3])
    assert not np.array_equal(forward[3], alone[3])  # the window did something


def test_flicker_falls_and_sad_does_not_rise(shot: MovingShot) -> None:
    fetcher = _fetcher(shot)
    frames = list(range(1, N + 1))
    single = list(_alphas(Node(CLASSICAL), fetcher, frames).values())
    stable = list(_alphas(Node({**CLASSICAL, "temporal_radius": 2}), fetcher, frames).values())
    assert metrics.dtssd(stable, shot.alphas) < 0.8 * metrics.dtssd(single, shot.alphas)
    sad_single = np.mean([metrics.sad(a, t) for a, t in zip(single, shot.alphas, strict=True)])
    sad_stable = np.mean([metrics.sad(a, t) for a, t in zip(stable, shot.alphas, strict=True)])
    assert sad_stable <= sad_single


def test_foreground_still_reconstructs_the_plate(shot: MovingShot) -> None:
    node = Node({**CLASSICAL, "temporal_radius": 1, "unmix": "exact"})
    m = node.solve_frame(3, _fetcher(shot))
    a = m.alpha[..., None]
    rebuilt = a * m.foreground + (1 - a) * m.clean_plate
    inside = m.alpha > 0
    np.testing.assert_allclose(rebuilt[inside], shot.plates[2][inside], rtol=1e-4, atol=1e-5)


def test_a_still_is_solved_alone(shot: MovingShot) -> None:
    fetcher = Frames(plate=shot.plates[0], clean_plate=shot.clean_plate)
    with_window = Node({**CLASSICAL, "temporal_radius": 2}).render(1, fetcher)["alpha"]
    alone = Node(CLASSICAL).render(1, fetcher)["alpha"]
    np.testing.assert_array_equal(with_window, alone)


def test_frames_of_different_sizes_are_named(shot: MovingShot) -> None:
    plates = {1: shot.plates[0], 2: shot.plates[1][:-2]}
    clean = {1: shot.clean_plate, 2: shot.clean_plate[:-2]}
    fetcher = Frames(plate=plates, clean_plate=clean)
    message = (
        "plate: frame 2 is 128x70 but frame 1 is 128x72; "
        "give every frame of the shot the same size, or set temporal_radius to 0"
    )
    with pytest.raises(BgmatteError, match=re.escape(message)):
        Node({**CLASSICAL, "temporal_radius": 1}).render(1, fetcher)


def test_dtssd_measures_the_error_in_change() -> None:
    true = [np.zeros((4, 5), np.float32), np.ones((4, 5), np.float32)]
    assert metrics.dtssd(true, true) == 0.0
    frozen = [true[0], true[0]]  # misses the whole change: RMS 1 → 100
    assert metrics.dtssd(frozen, true) == pytest.approx(100.0)
    short = [true[0] + 0.25, true[1]]  # the change falls 0.25 short everywhere → 25
    assert metrics.dtssd(short, true) == pytest.approx(25.0)
    with pytest.raises(ValueError, match="two or more frames"):
        metrics.dtssd(true[:1], true[:1])


def test_carried_image_follows_the_subject() -> None:
    shot = make_moving_shot(4, height=48, width=64, speed=1.0, seed=3)
    for src, dst in ((0, 3), (3, 1)):
        moved = shot.carried(shot.alphas[src], src, dst)
        # the truth carried is the truth, up to resampling the already resampled strands
        assert (
            np.abs(moved - shot.alphas[dst]).mean()
            < 0.1 * np.abs(shot.alphas[src] - shot.alphas[dst]).mean()
        )
    assert np.array_equal(shot.carried(shot.alphas[2], 2, 2), shot.alphas[2])


def test_in_order_each_frame_is_solved_once(
    shot: MovingShot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bgmatte.plugin import node as node_module

    keyed: list[int] = []
    unmixed: list[int] = []
    real_key, real_finish = node_module.key, node_module.finish

    def counted_key(*args: object, **kwargs: object) -> object:
        keyed.append(1)
        return real_key(*args, **kwargs)  # type: ignore[arg-type]

    def counted_finish(*args: object, **kwargs: object) -> object:
        unmixed.append(1)
        return real_finish(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(node_module, "key", counted_key)
    monkeypatch.setattr(node_module, "finish", counted_finish)
    node = Node({**CLASSICAL, "temporal_radius": 2})
    _alphas(node, _fetcher(shot), list(range(1, N + 1)))
    assert len(keyed) == N  # each frame keyed once, for itself and its neighbours
    assert len(unmixed) == N  # the foreground solved once per frame, for the filtered alpha
