"""Clean-plate alignment for hand-held shots, on generated shots with a known camera shake."""

from __future__ import annotations

import re

import numpy as np
import pytest

import bgmatte
from bgmatte.bench import metrics
from bgmatte.bench.scenes.shake import ShakenShot, apply_homography, grid_points, make_shaken_shot
from bgmatte.errors import AlignmentWarning, BgmatteError
from bgmatte.plugin.align import align, warning_message
from bgmatte.plugin.params import PARAMS_BY_NAME, resolve_params

H, W = 240, 320


def geometric_residual(shot: ShakenShot, homography: np.ndarray, valid: np.ndarray) -> float:
    """Median distance between the estimated and true maps over a 4 px grid of the visible
    background (alpha = 0, inside the warped area), px."""
    pts = grid_points(H, W, 4)
    ix = pts.astype(int)
    keep = (shot.alpha[ix[:, 1], ix[:, 0]] == 0) & valid[ix[:, 1], ix[:, 0]]
    moved = apply_homography(homography, pts[keep]) - apply_homography(shot.homography, pts[keep])
    return float(np.median(np.linalg.norm(moved, axis=1)))


@pytest.fixture(scope="module")
def big_shake() -> ShakenShot:
    return make_shaken_shot(H, W, shake_px=10.0, seed=14)


@pytest.mark.parametrize(("shake", "seed"), [(2.0, 11), (6.0, 12)])
def test_residual_on_generated_shake(shake: float, seed: int) -> None:
    shot = make_shaken_shot(H, W, shake_px=shake, seed=seed)
    got = align(shot.plate, shot.clean_plate, "auto")
    assert got.report.status == "aligned"
    assert got.report.inliers >= 50
    assert geometric_residual(shot, got.homography, got.valid) <= 0.25
    assert got.report.motion_px == pytest.approx(shake, abs=0.3)


def test_residual_on_ten_px_shake(big_shake: ShakenShot) -> None:
    got = align(big_shake.plate, big_shake.clean_plate, "homography")
    assert big_shake.shake_px == pytest.approx(10.0)
    assert geometric_residual(big_shake, got.homography, got.valid) <= 0.25
    # The warped clean plate matches the true background on the visible background.
    bg = (big_shake.alpha == 0) & got.valid
    err = np.abs(got.clean_plate - big_shake.steady_clean_plate)[bg].mean()
    unaligned = np.abs(big_shake.clean_plate - big_shake.steady_clean_plate)[bg].mean()
    assert err < 0.5 * unaligned


def test_locked_off_shot_is_exact_identity() -> None:
    shot = make_shaken_shot(H, W, shake_px=0.0, seed=15)
    got = align(shot.plate, shot.steady_clean_plate, "auto")
    assert got.report.status == "identity"
    assert got.clean_plate is shot.steady_clean_plate
    assert np.array_equal(got.homography, np.eye(3))
    assert got.valid.all()
    auto = bgmatte.matte(shot.plate, shot.steady_clean_plate, engine="classical")
    off = bgmatte.matte(shot.plate, shot.steady_clean_plate, engine="classical", align="off")
    assert np.array_equal(auto.alpha, off.alpha)
    assert np.array_equal(auto.clean_plate, off.clean_plate)


def test_a_locked_off_frame_is_tested_at_512_px(monkeypatch: pytest.MonkeyPatch) -> None:
    """A large locked-off frame is called still from copies downscaled to 512 px on the long
    side: no log luminance of the whole frame is computed, and the identity comes back. A
    shaken one then goes on to full-resolution features."""
    from bgmatte.plugin import align as align_module

    sizes: list[tuple[int, ...]] = []
    log_pair = align_module._log_pair

    def recorded(plate: np.ndarray, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sizes.append(plate.shape[:2])
        return log_pair(plate, clean)

    monkeypatch.setattr(align_module, "_log_pair", recorded)
    still = make_shaken_shot(640, 1200, shake_px=0.0, seed=15)
    got = align(still.plate, still.steady_clean_plate, "auto")
    assert got.report.status == "identity"
    assert sizes == [(273, 512)]
    sizes.clear()
    shaken = make_shaken_shot(640, 1200, shake_px=4.0, seed=11)
    assert align(shaken.plate, shaken.clean_plate, "auto").report.status == "aligned"
    assert sizes == [(273, 512), (640, 1200)]


@pytest.mark.parametrize("seed", [11, 15])
def test_the_locked_off_test_sees_a_twentieth_of_a_pixel(seed: int) -> None:
    # at 512 px the rigid fit still tells 0.05 px of shake (measured 0.078 / 0.075 px, as at
    # 1024 px) from none (0.005 / 0.010 px; 0.003 / 0.007 at 1024)
    still = make_shaken_shot(640, 1200, shake_px=0.0, seed=seed)
    moved = make_shaken_shot(640, 1200, shake_px=0.05, seed=seed)
    assert align(still.plate, still.steady_clean_plate, "auto").report.status == "identity"
    assert align(moved.plate, moved.clean_plate, "auto").report.status == "aligned"


def test_matte_with_shake_close_to_matte_without(big_shake: ShakenShot) -> None:
    shaken = bgmatte.matte(big_shake.plate, big_shake.clean_plate, engine="classical")
    still = bgmatte.matte(big_shake.plate, big_shake.steady_clean_plate, engine="classical")
    unaligned = bgmatte.matte(
        big_shake.plate, big_shake.clean_plate, engine="classical", align="off"
    )
    sad_shaken = metrics.sad(shaken.alpha, big_shake.alpha)
    sad_still = metrics.sad(still.alpha, big_shake.alpha)
    assert sad_shaken <= 1.15 * sad_still
    assert metrics.sad(unaligned.alpha, big_shake.alpha) > 2.0 * sad_still  # it mattered


def test_hdr_values_survive_the_warp(big_shake: ShakenShot) -> None:
    got = align(big_shake.plate, big_shake.clean_plate, "homography")
    assert got.clean_plate.dtype == np.float32
    assert big_shake.clean_plate.max() > 4.0
    assert got.clean_plate.max() > 0.9 * big_shake.clean_plate.max()
    bright = (big_shake.steady_clean_plate.max(axis=-1) > 2.0) & got.valid
    assert bright.sum() > 20
    ratio = got.clean_plate[bright] / big_shake.steady_clean_plate[bright]
    assert np.median(np.abs(ratio - 1.0)) < 0.05


def test_off_mode_never_warps(big_shake: ShakenShot) -> None:
    got = align(big_shake.plate, big_shake.clean_plate, "off")
    assert got.clean_plate is big_shake.clean_plate
    assert got.report.status == "off"


def test_featureless_clean_plate_warns_and_falls_back() -> None:
    rng = np.random.default_rng(0)
    flat = np.full((H, W, 3), 0.4, np.float32)
    plate = flat * (1 + 0.01 * rng.standard_normal(flat.shape, dtype=np.float32))
    clean = flat * (1 + 0.01 * rng.standard_normal(flat.shape, dtype=np.float32))
    message = warning_message("only 0 features found (need 20)")
    assert message == (
        "clean_plate: cannot align it to the plate: only 0 features found (need 20); using it "
        "unaligned, so background may key as subject where the camera moved; fix: frame the "
        "clean plate on the same textured background as the plate, or set align to off for a "
        "locked-off camera"
    )
    with pytest.warns(AlignmentWarning, match=f"^{re.escape(message)}$"):
        got = align(plate, clean, "homography")
    assert got.clean_plate is clean
    assert got.report.status == "failed"
    with pytest.warns(AlignmentWarning, match=f"^{re.escape(message)}$"):
        result = bgmatte.matte(plate, clean, engine="classical")
    assert np.array_equal(result.clean_plate.shape, clean.shape)


def test_align_param_in_the_table() -> None:
    param = PARAMS_BY_NAME["align"]
    assert param.default == "auto"
    assert param.choices == ("off", "auto", "homography")
    with pytest.raises(BgmatteError, match="align: 'on' is not one of off, auto, homography"):
        resolve_params({"align": "on"})


def _misregistration(plate: np.ndarray, clean: np.ndarray, clear: np.ndarray) -> np.ndarray:
    """|log difference| after the clean plate's exposure drift is taken out, H×W."""
    d = np.log(np.maximum(clean, 1e-3)) - np.log(np.maximum(plate, 1e-3))
    d -= np.median(d[clear], axis=0)
    return np.abs(d).mean(axis=2)


def test_parallax_leaves_the_background_misregistered() -> None:
    from bgmatte.bench.scenes.shake import make_parallax_shot

    misses = []
    for px in (0.0, 5.0):
        shot = make_parallax_shot(160, 224, shake_px=3.0, parallax_px=px, seed=2)
        clear = shot.alpha == 0
        assert (clear & (shot.near > 0.99)).sum() > 500  # the near layer is in view
        aligned = align(shot.plate, shot.clean_plate, "homography").clean_plate
        misses.append(np.percentile(_misregistration(shot.plate, aligned, clear)[clear], 90))
    # one homography aligns a flat scene; two layers moving differently, it cannot
    assert misses[0] < 0.12 and misses[1] > 1.8 * misses[0]


def test_a_locked_off_frame_too_plain_for_features_counts_as_aligned() -> None:
    # Half a pixel of misregistration on a smooth set: too few features to fit a homography,
    # but the rigid fit measures under a pixel of motion, so the shot is locked off. Its clean
    # plate is used as it is, quietly, and the shadow and light passes are solved against it
    # (a failed status refused them: "the clean plate could not be aligned to the plate").
    yy, xx = np.mgrid[:H, :W].astype(np.float32)

    def scene(dx: float) -> np.ndarray:
        x = xx - dx
        v = 0.3 + 0.1 * np.sin(x / 23.0) * np.cos(yy / 31.0) + 0.05 * np.sin((x + yy) / 17.0)
        return np.repeat(v[..., None], 3, axis=2)

    rng = np.random.default_rng(0)
    plate = (scene(0.5) * (1 + 0.01 * rng.standard_normal((H, W, 3)))).astype(np.float32)
    clean = (scene(0.0) * (1 + 0.01 * rng.standard_normal((H, W, 3)))).astype(np.float32)
    got = align(plate, clean, "auto")  # no AlignmentWarning (pytest makes warnings errors)
    assert got.report.status == "identity"
    assert got.report.problem.startswith("only ")  # what the feature fit said
    assert got.clean_plate is clean
    matte = bgmatte.matte(plate, clean, engine="classical")
    assert matte.shadow.shape == (H, W) and np.all(matte.shadow == 1.0)
