"""``bgmatte.matte`` end to end on a generated shot: shapes, quality, linear-light unmix."""

from __future__ import annotations

import re

import numpy as np
import pytest

import bgmatte
from bgmatte.bench.scenes.demo_shot import DemoShot
from bgmatte.plugin.params import PARAMS_BY_NAME


def _sad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).sum() / 1000.0)


def test_outputs_have_the_documented_shapes(small_shot: DemoShot) -> None:
    m = bgmatte.matte(small_shot.plate, small_shot.clean_plate, background=small_shot.background)
    h, w = small_shot.alpha.shape
    assert m.alpha.shape == (h, w) and m.alpha.dtype == np.float32
    assert m.foreground.shape == (h, w, 3) and m.foreground.dtype == np.float32
    assert m.rgba.shape == (h, w, 4)
    assert m.composite is not None and m.composite.shape == (h, w, 3)
    assert 0.0 <= m.alpha.min() and m.alpha.max() <= 1.0
    np.testing.assert_allclose(m.rgba[..., :3], m.foreground * m.alpha[..., None], rtol=1e-6)


@pytest.mark.parametrize("engine", ["network", "classical"])
def test_matte_is_far_better_than_nothing_and_than_a_plain_threshold(
    small_shot: DemoShot, engine: str
) -> None:
    m = bgmatte.matte(small_shot.plate, small_shot.clean_plate, engine=engine)
    sad = _sad(m.alpha, small_shot.alpha)
    empty = _sad(np.zeros_like(m.alpha), small_shot.alpha)
    d = np.abs(small_shot.plate - small_shot.clean_plate).max(axis=2)
    plain = np.clip((d - 0.02) / 0.1, 0.0, 1.0)  # the naive key of shared/data BASELINE.md
    assert sad < 0.2 * empty
    assert sad < 0.7 * _sad(plain, small_shot.alpha)


@pytest.mark.parametrize("engine", ["network", "classical"])
def test_foreground_reconstructs_the_plate_in_linear_light(
    small_shot: DemoShot, engine: str
) -> None:
    m = bgmatte.matte(small_shot.plate, small_shot.clean_plate, engine=engine, unmix="exact")
    a = m.alpha[..., None]
    recon = a * m.foreground + (1.0 - a) * m.clean_plate
    inside = m.alpha > 0.0
    rel = np.abs(recon - small_shot.plate)[inside] / np.maximum(
        np.abs(small_shot.plate[inside]), 1e-3
    )
    assert rel.max() < 1e-4
    # HDR survives: the highlight above 1.0 on the subject is not clipped.
    assert m.foreground[m.alpha > 0.5].max() > 1.5


def test_segmentation_prior_pulls_the_classical_matte(small_shot: DemoShot) -> None:
    args = (small_shot.plate, small_shot.clean_plate)
    without = bgmatte.matte(*args, engine="classical")
    with_prior = bgmatte.matte(*args, small_shot.alpha, engine="classical")
    assert _sad(with_prior.alpha, small_shot.alpha) < _sad(without.alpha, small_shot.alpha)
    np.testing.assert_array_equal(with_prior.segmentation, small_shot.alpha)


def test_rgba_inputs_are_accepted(small_shot: DemoShot) -> None:
    ones = np.ones_like(small_shot.alpha)[..., None]
    rgba = np.concatenate([small_shot.plate, ones], axis=2)
    clean = np.concatenate([small_shot.clean_plate, ones], axis=2)
    a = bgmatte.matte(rgba, clean).alpha
    np.testing.assert_array_equal(a, bgmatte.matte(small_shot.plate, small_shot.clean_plate).alpha)


def test_colorspace_converts_inputs_to_the_working_space(small_shot: DemoShot) -> None:
    m = bgmatte.matte(small_shot.plate, small_shot.clean_plate, colorspace="lin_rec709")
    same = bgmatte.matte(small_shot.plate, small_shot.clean_plate)
    # Converted from Rec.709 to ACEScg, so the plate differs, but the matte is as good.
    assert not np.allclose(m.clean_plate, same.clean_plate)
    assert _sad(m.alpha, small_shot.alpha) < 1.2 * _sad(same.alpha, small_shot.alpha) + 0.05


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1000}, "threshold: 1000 is outside 0.5..50; pass a value in range"),
        (
            {"engine": "magic"},
            "engine: 'magic' is not one of classical, network; pick one of those",
        ),
        (
            {"flavour": 1},
            "flavour: is not a parameter of the node; use one of " + ", ".join(PARAMS_BY_NAME),
        ),
    ],
)
def test_bad_params_are_named(small_shot: DemoShot, kwargs: dict, message: str) -> None:
    with pytest.raises(bgmatte.BgmatteError, match=f"^{re.escape(message)}$"):
        bgmatte.matte(small_shot.plate, small_shot.clean_plate, **kwargs)


def test_size_mismatch_is_named(small_shot: DemoShot) -> None:
    msg = (
        "clean_plate: is 80x120 but the plate is 160x120; "
        "reformat it to the plate's resolution before matting"
    )
    with pytest.raises(bgmatte.BgmatteError, match=f"^{re.escape(msg)}$"):
        bgmatte.matte(small_shot.plate, small_shot.clean_plate[:, :80])


def test_nan_policy(small_shot: DemoShot) -> None:
    plate = small_shot.plate.copy()
    plate[3, 4, 1] = np.nan
    plate[5, 6] = np.inf
    msg = (
        "plate: 2 pixels are NaN or Inf; fix the source, or set nan to 'zero' to replace them "
        "with 0"
    )
    with pytest.raises(bgmatte.BgmatteError, match=f"^{re.escape(msg)}$"):
        bgmatte.matte(plate, small_shot.clean_plate)
    m = bgmatte.matte(plate, small_shot.clean_plate, nan="zero")
    assert np.isfinite(m.foreground).all() and np.isfinite(m.alpha).all()


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["clean_plate", "background"])
def test_one_non_finite_value_anywhere_is_found(
    small_shot: DemoShot, value: float, where: str
) -> None:
    # the check reads the extremes, through which NaN propagates and where an Inf shows
    images = {"clean_plate": small_shot.clean_plate.copy(), "background": small_shot.plate.copy()}
    images[where][-1, -1, 2] = value
    msg = (
        f"{where}: 1 pixel is NaN or Inf; fix the source, or set nan to 'zero' to replace them "
        "with 0"
    )
    with pytest.raises(bgmatte.BgmatteError, match=f"^{re.escape(msg)}$"):
        bgmatte.matte(small_shot.plate, images["clean_plate"], background=images["background"])


def test_a_large_negative_value_is_beyond_the_limit_too(small_shot: DemoShot) -> None:
    plate = small_shot.plate.copy()
    plate[0, 0, 0] = -1e13
    msg = (
        "plate: has values up to 1e+13 in magnitude, beyond the 1e+12 bgmatte can key "
        "in float32; scale it down (an exposure change), or fix the source"
    )
    with pytest.raises(bgmatte.BgmatteError, match=f"^{re.escape(msg)}$"):
        bgmatte.matte(plate, small_shot.clean_plate)


def test_wrong_channel_count_is_named(small_shot: DemoShot) -> None:
    msg = "plate: has 2 channels, expected 3 (RGB) or 4 (RGBA); write it as an RGB or RGBA image"
    with pytest.raises(bgmatte.BgmatteError, match=f"^{re.escape(msg)}$"):
        bgmatte.matte(small_shot.plate[..., :2], small_shot.clean_plate)


@pytest.mark.parametrize("scale", [1e30, 1e13])
def test_values_beyond_the_limit_are_named(small_shot: DemoShot, scale: float) -> None:
    plate = small_shot.plate * np.float32(scale)
    biggest = float(np.abs(plate).max())
    msg = (
        f"plate: has values up to {biggest:.3g} in magnitude, beyond the 1e+12 bgmatte can key "
        "in float32; scale it down (an exposure change), or fix the source"
    )
    with pytest.raises(bgmatte.BgmatteError, match=f"^{re.escape(msg)}$"):
        bgmatte.matte(plate, small_shot.clean_plate)


@pytest.mark.parametrize("engine", ["classical", "network"])
@pytest.mark.parametrize("scale", [-1.0, 1e-30, 5e10])
def test_extreme_but_finite_inputs_give_finite_results_and_no_warning(
    small_shot: DemoShot, engine: str, scale: float
) -> None:
    # pytest turns any numpy RuntimeWarning into an error here
    plate, clean = small_shot.plate * np.float32(scale), small_shot.clean_plate * np.float32(scale)
    m = bgmatte.matte(plate, clean, engine=engine)
    assert np.isfinite(m.alpha).all() and np.isfinite(m.foreground).all()
    assert 0.0 <= m.alpha.min() and m.alpha.max() <= 1.0


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64, np.bool_])
def test_integer_arrays_are_refused(small_shot: DemoShot, dtype: type) -> None:
    plate = (small_shot.plate * 100).astype(dtype)
    msg = (
        f"plate: is a {np.dtype(dtype)} array; bgmatte takes scene-linear floating point "
        "(float16, 32 or 64); decode it to linear light as floats first (8/16-bit pictures are "
        "display-encoded: divide by 255 or 65535, then pass colorspace= the space they are in)"
    )
    with pytest.raises(bgmatte.BgmatteError, match=f"^{re.escape(msg)}$"):
        bgmatte.matte(plate, small_shot.clean_plate)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_other_float_arrays_are_taken_as_they_are(small_shot: DemoShot, dtype: type) -> None:
    plate, clean = small_shot.plate.astype(dtype), small_shot.clean_plate.astype(dtype)
    got = bgmatte.matte(plate, clean, engine="classical").alpha
    want = bgmatte.matte(
        plate.astype(np.float32), clean.astype(np.float32), engine="classical"
    ).alpha
    np.testing.assert_array_equal(got, want)


def test_a_result_that_is_not_finite_is_refused(
    small_shot: DemoShot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bgmatte.plugin import solve

    real = solve.unmix

    def broken(*args: object, **kwargs: object) -> tuple[np.ndarray, np.ndarray | None]:
        fg, comp = real(*args, **kwargs)  # type: ignore[arg-type]
        fg[0, 0, 0] = np.inf
        return fg, comp

    monkeypatch.setattr(solve, "unmix", broken)
    msg = (
        "plate: gives a foreground with 1 non-finite values; this is a fault of bgmatte: please "
        "report it with the input files"
    )
    with pytest.raises(bgmatte.BgmatteError, match=f"^{re.escape(msg)}$"):
        bgmatte.matte(small_shot.plate, small_shot.clean_plate, engine="classical")


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 2.5])
def test_an_int_param_given_a_float_that_is_not_whole_is_named(value: float) -> None:
    from bgmatte.plugin.params import resolve_params

    msg = f"shift_tolerance: '{value}' is not a whole number; pass an int"
    with pytest.raises(bgmatte.BgmatteError, match=f"^{re.escape(msg)}$"):
        resolve_params({"shift_tolerance": value})
