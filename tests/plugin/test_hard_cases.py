"""Hard-case generators of the training composites (issue 16): each does what it says, drawn
through the sampler with its own probability (procedural data only)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bgmatte.bench.metrics import strand_mask
from bgmatte.plugin.training import hard_cases, procedural
from bgmatte.plugin.training.data import DEFAULT_AUGMENT, CompositeSampler

SIZE = 96
HARD = ("camouflage", "thin_strands", "veil", "added_light", "halo", "fringe")
QUIET = {"noise": 0.0, "misalign": 0.0, "exposure": 0.0, "white_balance": 0.0, "shadow": 0.0}
QUIET |= {"similar_colour": 0.0, "defocus": 0.0, "empty": 0.0, "full": 0.0, "layers": 0.0}


def _batch(**on: float) -> dict[str, np.ndarray]:
    return CompositeSampler(None, augment=QUIET | on, seed=5).sample(step=2, batch=8, size=SIZE)


@pytest.fixture(scope="module")
def plain() -> dict[str, np.ndarray]:
    return _batch()


def test_off_by_default() -> None:
    assert all(DEFAULT_AUGMENT[k] == 0.0 for k in HARD)


def test_camouflage_puts_the_subjects_colour_behind_it(plain: dict[str, np.ndarray]) -> None:
    b = _batch(camouflage=1.0)
    np.testing.assert_array_equal(b["alpha"], plain["alpha"])  # the subject is the same

    def hidden(batch: dict[str, np.ndarray]) -> float:
        """Share of the solid subject's pixels whose background is within 5 % of it."""
        solid = batch["alpha"][:, 0] > 0.99
        fg, bg = batch["foreground"], batch["background"]
        rel = np.abs(bg - fg).max(1) / np.maximum(fg.max(1), 1e-3)
        return float((rel < 0.05)[solid].mean())

    assert hidden(b) > 0.3 and hidden(plain) < 0.05
    # the plate says nothing there: plate equals clean plate within the tolerance
    solid = b["alpha"][:, 0] > 0.99
    rel = np.abs(b["plate"] - b["clean_plate"]).max(1) / np.maximum(b["plate"].max(1), 1e-3)
    assert (rel < 0.05)[solid].mean() > 0.3


def test_camouflage_leaves_an_empty_frame_alone() -> None:
    rng = np.random.default_rng(0)
    canvas = rng.random((SIZE + 16, SIZE + 16, 3), dtype=np.float32)
    fg, alpha = np.zeros((SIZE, SIZE, 3), np.float32), np.zeros((SIZE, SIZE), np.float32)
    np.testing.assert_array_equal(hard_cases.camouflage(rng, canvas, fg, alpha, 8), canvas)


def test_thin_strands_are_one_to_two_pixels_over_texture(plain: dict[str, np.ndarray]) -> None:
    b = _batch(thin_strands=1.0)
    assert (b["alpha"] >= plain["alpha"] - 1e-6).all()  # strands go over the subject
    thin_before = sum(strand_mask(a[0]).sum() for a in plain["alpha"])
    thin_after = sum(strand_mask(a[0]).sum() for a in b["alpha"])
    assert thin_after > thin_before + 8 * 50  # tens of strand pixels per sample

    # texture at the strands' scale: the background's fine detail grows
    def fine(x: np.ndarray) -> float:
        return float(np.abs(np.diff(np.log(x + 1e-3), axis=-1)).mean())

    assert fine(b["background"]) > 1.5 * fine(plain["background"])


def test_thin_strands_width() -> None:
    rng = np.random.default_rng(1)
    canvas = np.full((SIZE + 16, SIZE + 16, 3), 0.2, np.float32)
    empty: procedural.Layer = (
        np.zeros((SIZE, SIZE, 3), np.float32),
        np.zeros((SIZE, SIZE), np.float32),
    )
    _prem, a = hard_cases.thin_strands(rng, canvas, empty)
    assert a.max() > 0.5  # 1-2 px: a core of more than half coverage
    # thin: a grey-level opening by a 3×3 square (anything under 3 px wide) removes most of it
    thin = a - ndimage.grey_opening(a, size=(3, 3))
    assert thin.sum() > 0.8 * a.sum()


def test_veil_is_semi_transparent_over_texture(plain: dict[str, np.ndarray]) -> None:
    b = _batch(veil=1.0)
    soft = (b["alpha"] > 0.2) & (b["alpha"] < 0.8)
    soft0 = (plain["alpha"] > 0.2) & (plain["alpha"] < 0.8)
    assert soft.mean() > soft0.mean() + 0.05  # large semi-transparent areas


def test_added_light_brightens_the_plates_background_only(plain: dict[str, np.ndarray]) -> None:
    b = _batch(added_light=1.0)
    for k in ("alpha", "foreground", "clean_plate"):
        np.testing.assert_array_equal(b[k], plain[k])
    added = b["background"] - plain["background"]
    assert added.min() >= 0.0 and (added.max((1, 2, 3)) > 0.01).all()
    # where the subject is not, the plate is brighter than the clean plate by the light
    a = b["alpha"]
    np.testing.assert_allclose(b["plate"] - plain["plate"], (1 - a) * added, atol=1e-5)


def test_halo_hugs_the_subject_on_the_plates_background_only(
    plain: dict[str, np.ndarray],
) -> None:
    b = _batch(halo=1.0)
    for k in ("alpha", "foreground", "clean_plate"):
        np.testing.assert_array_equal(b[k], plain[k])
    added = (b["background"] - plain["background"]).mean(axis=1)  # B×H×W
    a = b["alpha"][:, 0]
    np.testing.assert_allclose(
        b["plate"] - plain["plate"],
        (1 - a[:, None]) * (b["background"] - plain["background"]),
        atol=1e-5,
    )
    assert added.min() >= 0.0
    checked = 0
    for light, alpha in zip(added, a, strict=True):
        if not 0.05 < alpha.mean() < 0.95:
            continue  # an empty or a full frame: nothing to hug
        # brighter just outside the subject than far from it
        outside = ndimage.distance_transform_edt(alpha < 0.01)
        near, far = (outside > 0) & (outside <= 3), outside > 0.5 * SIZE
        assert light[near].mean() > 0.0
        if far.any():
            assert light[far].mean() < 0.5 * light[near].mean()
        checked += 1
    assert checked >= 4


def _gaps(alpha: np.ndarray) -> float:
    """The share of pixels that are background (α < 0.1) but within a gap a 5×5 closing fills
    (α > 0.9 after it): narrow gaps between solid strands."""
    closed = ndimage.grey_closing(alpha, size=(1, 1, 5, 5))
    return float(((alpha < 0.1) & (closed > 0.9)).mean())


def test_fringe_is_solid_strands_with_narrow_gaps(plain: dict[str, np.ndarray]) -> None:
    b = _batch(fringe=1.0)
    np.testing.assert_array_equal(b["clean_plate"].shape, plain["clean_plate"].shape)
    # measured 0.056 against 0; 0.023 when the fringe lay over the subject, its gaps showing it
    assert _gaps(b["alpha"]) > _gaps(plain["alpha"]) + 0.04
    assert (b["alpha"] > 0.95).mean() > (plain["alpha"] > 0.95).mean()  # solid, not wisps


def test_new_cases_off_leave_the_earlier_ones_as_they_were() -> None:
    """Recorded before the halo and the fringe existed: a stage without them draws the same
    batches. The tolerance is float32 summation order (AVX-512 and AVX2 machines differ by
    5.5e-9 relative); a changed draw moves the sums by far more."""
    b = _batch(camouflage=0.3, thin_strands=0.4, veil=0.3, added_light=0.5)
    sums = [float(b[k].astype(np.float64).sum()) for k in ("plate", "alpha", "background")]
    np.testing.assert_allclose(
        sums, [93910.19222075387, 28517.01540687872, 102449.83144269546], rtol=1e-7
    )


def test_soft_fringe_has_fuzzy_strands_and_leaves_the_solid_one_as_it_was() -> None:
    solid, fuzzy = _batch(fringe=1.0), _batch(fringe=1.0, fringe_soft=1.0)
    off = _batch(fringe=1.0, fringe_soft=0.0)
    np.testing.assert_array_equal(off["alpha"], solid["alpha"])  # drawn only when set
    np.testing.assert_array_equal(fuzzy["background"], solid["background"])  # the same sets

    def soft_share(alpha: np.ndarray) -> float:
        return float(((alpha > 0.1) & (alpha < 0.9)).mean())

    # the same strands, fuzzy: many more partly covered pixels and fewer opaque ones
    assert soft_share(fuzzy["alpha"]) > 2.0 * soft_share(solid["alpha"])
    assert (fuzzy["alpha"] > 0.95).mean() < (solid["alpha"] > 0.95).mean()
