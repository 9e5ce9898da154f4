"""The node: params as data, passes, regions, cache key, threads."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest

import bgmatte
from bgmatte.bench.scenes.demo_shot import DemoShot
from bgmatte.plugin import node as node_module
from bgmatte.plugin.node import Node
from bgmatte.plugin.params import INPUTS, PARAMS, PASSES

from .frames import Frames


def _fetcher(shot: DemoShot, **extra: np.ndarray) -> Frames:
    return Frames(plate=shot.plate, clean_plate=shot.clean_plate, **extra)


def test_declarations_are_complete() -> None:
    assert [i.name for i in INPUTS] == ["plate", "clean_plate", "segmentation", "background"]
    assert [i.required for i in INPUTS] == [True, True, False, False]
    assert PASSES[0] == "rgba"
    for p in PARAMS:
        assert p.label and p.hint and p.default is not None
        assert p.check(p.default) == p.default
        if p.type == "choice":
            assert p.choices and p.default in p.choices


def test_render_matches_the_python_api(small_shot: DemoShot) -> None:
    out = Node().render(1, _fetcher(small_shot), passes=["rgba", "alpha", "foreground"])
    ref = bgmatte.matte(small_shot.plate, small_shot.clean_plate)
    np.testing.assert_array_equal(out["rgba"], ref.rgba)
    np.testing.assert_array_equal(out["alpha"][..., 0], ref.alpha)
    np.testing.assert_array_equal(out["foreground"], ref.foreground)


def test_default_output_is_rgba(small_shot: DemoShot) -> None:
    out = Node().render(1, _fetcher(small_shot))
    assert list(out) == ["rgba"] and out["rgba"].shape[2] == 4


@pytest.mark.parametrize("engine", ["network", "classical"])
def test_debug_passes_are_made_only_when_asked_for(small_shot: DemoShot, engine: str) -> None:
    node, fetcher = Node({"engine": engine}), _fetcher(small_shot)
    node.render(1, fetcher, passes=["rgba", "alpha", "foreground"])
    matte = node.solve_frame(1, fetcher)  # the cached result of that render
    assert {name: d.made for name, d in matte.debug.items()} == {
        "difference": False,
        "segmentation": False,
        "error": False,
    }
    assert not matte.shadow_pass.made and not matte.light_pass.made
    out = node.render(1, fetcher, passes=["difference", "error"])
    assert [name for name, d in matte.debug.items() if d.made] == ["difference", "error"]
    np.testing.assert_array_equal(
        out["difference"], np.abs(small_shot.plate - matte.clean_plate).astype(np.float32)
    )
    assert out["error"].shape == (*small_shot.alpha.shape, 1)


def test_tiles_assemble_into_the_whole_frame(small_shot: DemoShot) -> None:
    n = Node()
    f = _fetcher(small_shot)
    h, w = small_shot.alpha.shape
    whole = n.render(1, f)["rgba"]
    left = n.render(1, f, region=(0, 0, w // 2, h))["rgba"]
    right = n.render(1, f, region=(w // 2, 0, w, h))["rgba"]
    np.testing.assert_array_equal(np.concatenate([left, right], axis=1), whole)


def test_cache_key_follows_params_and_inputs(small_shot: DemoShot) -> None:
    f = _fetcher(small_shot)
    assert Node().cache_key(1, f) == Node().cache_key(1, f)
    assert Node().cache_key(1, f) != Node({"threshold": 5.0}).cache_key(1, f)
    assert Node().cache_key(1, f) != Node().cache_key(2, f)
    other = Frames(plate=small_shot.plate + 0.01, clean_plate=small_shot.clean_plate)
    assert Node().cache_key(1, f) != Node().cache_key(1, other)


def test_threads_share_one_solve(small_shot: DemoShot, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = node_module.key  # the engine stage: the costly part of a solve

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(node_module, "key", counting)
    n, f = Node(), _fetcher(small_shot)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(n.render(1, f)["rgba"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(calls) == 1
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_composite_needs_a_background(small_shot: DemoShot) -> None:
    msg = "background: is not connected; connect a background for the composite pass"
    with pytest.raises(bgmatte.BgmatteError, match=f"^{re.escape(msg)}$"):
        Node().render(1, _fetcher(small_shot), passes=["composite"])
    got = Node().render(
        1, _fetcher(small_shot, background=small_shot.background), passes=["composite"]
    )
    assert got["composite"].shape == small_shot.plate.shape


def test_missing_required_input_is_named(small_shot: DemoShot) -> None:
    msg = "clean_plate: is not connected; connect the clean_plate input"
    with pytest.raises(bgmatte.BgmatteError, match=f"^{re.escape(msg)}$"):
        Node().render(1, Frames(plate=small_shot.plate))


def test_bad_region_and_pass_are_named(small_shot: DemoShot) -> None:
    f = _fetcher(small_shot)
    msg = "region: (0, 0, 500, 10) is outside the 160x120 frame; ask for a region inside it"
    with pytest.raises(bgmatte.BgmatteError, match=f"^{re.escape(msg)}$"):
        Node().render(1, f, region=(0, 0, 500, 10))
    msg = f"passes: unknown pass 'beauty'; pick from {', '.join(PASSES)}"
    with pytest.raises(bgmatte.BgmatteError, match=f"^{re.escape(msg)}$"):
        Node().render(1, f, passes=["beauty"])
