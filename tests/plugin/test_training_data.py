"""Training composites (procedural only: tests never read shared/data)."""

from __future__ import annotations

import numpy as np
import pytest

from bgmatte.plugin.training import procedural
from bgmatte.plugin.training.data import DEFAULT_AUGMENT, CompositeSampler

SIZE = 64
KEYS3 = ("plate", "clean_plate", "foreground", "background")
KEYS1 = ("alpha", "segmentation")


@pytest.fixture(scope="module")
def batch() -> dict[str, np.ndarray]:
    return CompositeSampler(None, seed=3).sample(step=7, batch=6, size=SIZE)


def test_shapes_and_dtypes(batch: dict[str, np.ndarray]) -> None:
    for k in KEYS3:
        assert batch[k].shape == (6, 3, SIZE, SIZE) and batch[k].dtype == np.float32, k
    for k in KEYS1:
        assert batch[k].shape == (6, 1, SIZE, SIZE) and batch[k].dtype == np.float32, k
    assert batch["has_segmentation"].shape == (6,)
    assert set(np.unique(batch["has_segmentation"])) <= {0.0, 1.0}
    for v in batch.values():
        assert np.isfinite(v).all()
    assert 0.0 <= batch["alpha"].min() and batch["alpha"].max() <= 1.0
    assert (batch["segmentation"][batch["has_segmentation"] == 0] == 0).all()


def test_deterministic_per_step() -> None:
    a = CompositeSampler(None, seed=1).sample(5, 3, SIZE)
    b = CompositeSampler(None, seed=1).sample(5, 3, SIZE)
    c = CompositeSampler(None, seed=1).sample(6, 3, SIZE)
    d = CompositeSampler(None, seed=2).sample(5, 3, SIZE)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["plate"], c["plate"])
    assert not np.array_equal(a["plate"], d["plate"])
    # a sample does not depend on the batch size
    e = CompositeSampler(None, seed=1).sample(5, 2, SIZE)
    np.testing.assert_array_equal(a["plate"][:2], e["plate"])


def test_compositing_identity_without_noise() -> None:
    b = CompositeSampler(None, augment={"noise": 0}, seed=4).sample(0, 6, SIZE)
    a = b["alpha"]
    recomposed = a * b["foreground"] + (1 - a) * b["background"]
    np.testing.assert_allclose(b["plate"], recomposed, rtol=1e-6, atol=1e-5)
    assert (b["foreground"] * (a == 0) == 0).all()  # foreground is 0 where alpha is 0


def test_noise_only_on_captures(batch: dict[str, np.ndarray]) -> None:
    a = batch["alpha"]
    resid = batch["plate"] - (a * batch["foreground"] + (1 - a) * batch["background"])
    assert 0.0005 < resid.std() < 0.2  # the plate carries sensor noise


def test_values_above_one_survive() -> None:
    b = CompositeSampler(None, seed=0).sample(0, 8, SIZE)
    for k in ("plate", "clean_plate", "background"):
        assert b[k].max() > 1.5, k


def test_shadows_darken_background_only() -> None:
    off = CompositeSampler(None, augment={"shadow": 0, "noise": 0}, seed=5).sample(2, 6, SIZE)
    on = CompositeSampler(None, augment={"shadow": 1, "noise": 0}, seed=5).sample(2, 6, SIZE)
    np.testing.assert_array_equal(on["alpha"], off["alpha"])
    np.testing.assert_array_equal(on["foreground"], off["foreground"])
    np.testing.assert_array_equal(on["clean_plate"], off["clean_plate"])
    ratio = on["background"] / np.maximum(off["background"], 1e-12)
    assert ratio.max() <= 1.0 + 1e-6 and ratio.min() >= 0.5 - 1e-6
    assert (ratio < 0.95).any()  # some shadow was cast


def test_clean_plate_is_background_without_misalignment() -> None:
    aug = {"misalign": 0, "shadow": 0, "noise": 0}
    b = CompositeSampler(None, augment=aug, seed=6).sample(1, 6, SIZE)
    ratio = b["clean_plate"] / np.maximum(b["background"], 1e-12)
    gain = np.median(ratio, axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(b["clean_plate"], gain * b["background"], rtol=1e-4, atol=1e-6)
    lo, hi = 2**-0.35 * (1 - 0.06), 2**0.35 * (1 + 0.06)
    assert (gain >= lo - 1e-4).all() and (gain <= hi + 1e-4).all()
    still = CompositeSampler(None, augment={**aug, "exposure": 0, "white_balance": 0}, seed=6)
    s = still.sample(1, 6, SIZE)
    np.testing.assert_array_equal(s["clean_plate"], s["background"])


def test_match_exposure_undoes_the_clean_plate_drift_as_the_engines_do() -> None:
    aug = {"misalign": 0, "shadow": 0, "noise": 0, "exposure": 1, "white_balance": 1}
    drifted = CompositeSampler(None, augment=aug, seed=6).sample(1, 6, SIZE)
    matched = CompositeSampler(None, augment={**aug, "match_exposure": 1}, seed=6).sample(
        1, 6, SIZE
    )
    np.testing.assert_array_equal(matched["plate"], drifted["plate"])  # only the clean plate
    np.testing.assert_array_equal(matched["alpha"], drifted["alpha"])
    seen = drifted["alpha"].mean(axis=(1, 2, 3)) < 0.9  # background to match against
    assert seen.sum() >= 4
    for b, lo, hi in ((drifted, 0.02, 0.5), (matched, 0.0, 0.01)):
        ratio = b["clean_plate"] / np.maximum(b["background"], 1e-12)
        off = np.abs(np.median(ratio, axis=(2, 3)) - 1.0).max(axis=1)[seen]  # per sample
        assert (off <= hi).all() and off.max() >= lo


def test_misalignment_moves_clean_plate() -> None:
    aug = {"misalign": 1, "shadow": 0, "noise": 0, "exposure": 0, "white_balance": 0}
    b = CompositeSampler(None, augment=aug, seed=6).sample(1, 6, SIZE)
    assert not np.allclose(b["clean_plate"], b["background"])


def test_empty_and_full_frames() -> None:
    empty = CompositeSampler(None, augment={"empty": 1.0}).sample(0, 2, SIZE)
    assert (empty["alpha"] == 0).all()
    full = CompositeSampler(None, augment={"empty": 0.0, "full": 1.0}).sample(0, 2, SIZE)
    assert (full["alpha"] == 1).all()


def test_unknown_augment_key() -> None:
    with pytest.raises(ValueError, match="unknown augment keys"):
        CompositeSampler(None, augment={"nosie": 0})
    assert all(isinstance(v, float) for v in DEFAULT_AUGMENT.values())


def test_procedural_foreground_exact() -> None:
    rng = np.random.default_rng(0)
    fg, alpha = procedural.procedural_foreground(rng, SIZE, p_motion_blur=1.0)
    assert fg.shape == (SIZE, SIZE, 3) and alpha.shape == (SIZE, SIZE)
    assert fg.min() >= 0 and 0 <= alpha.min() and alpha.max() <= 1
    assert (fg[alpha == 0] == 0).all()
    bg = procedural.procedural_background(np.random.default_rng(1), SIZE)
    assert bg.shape == (SIZE, SIZE, 3) and bg.dtype == np.float32 and bg.min() >= 0


def test_strands_are_thin_and_antialiased() -> None:
    prem, alpha = procedural.strands(
        np.random.default_rng(0),
        SIZE,
        np.array([[10.0, 10.0]], np.float32),
        np.array([0.3], np.float32),
        (40, 40),
        (0.3, 0.3),
        np.ones(3, np.float32),
        curl=0.0,
    )
    covered = alpha > 0.01
    assert 0 < alpha.max() < 0.5  # sub-pixel strand: partial coverage only
    assert covered.sum() < 40 * 4
    colour = prem[covered] / alpha[covered, None]  # one strand: one colour everywhere
    np.testing.assert_allclose(colour, np.broadcast_to(colour[:1], colour.shape), rtol=1e-4)


def test_classical_prior_is_the_engines_matte() -> None:
    from bgmatte.plugin.engines import classical
    from bgmatte.plugin.params import resolve_params

    aug = {"segmentation": 1.0, "classical_prior": 1.0}
    got = CompositeSampler(None, augment=aug, seed=2).sample(0, 2, SIZE)
    params = resolve_params({"engine": "classical"})
    for i in range(2):
        plate = got["plate"][i].transpose(1, 2, 0)
        clean = got["clean_plate"][i].transpose(1, 2, 0)
        want = classical.run(plate, clean, None, params).alpha
        np.testing.assert_array_equal(got["segmentation"][i, 0], want)
    degraded = CompositeSampler(None, augment={"segmentation": 1.0}, seed=2).sample(0, 2, SIZE)
    assert not np.array_equal(degraded["segmentation"], got["segmentation"])
    np.testing.assert_array_equal(degraded["alpha"], got["alpha"])


def test_halved_classical_prior_is_the_engines_half_resolution_prior() -> None:
    from bgmatte.plugin.engines import classical
    from bgmatte.plugin.params import resolve_params

    aug = {"segmentation": 1.0, "classical_prior": 1.0, "classical_prior_half": 1.0}
    got = CompositeSampler(None, augment=aug, seed=2).sample(0, 2, SIZE)
    full = CompositeSampler(None, augment={**aug, "classical_prior_half": 0.0}, seed=2)
    whole = full.sample(0, 2, SIZE)
    np.testing.assert_array_equal(got["plate"], whole["plate"])  # the same composites
    params = resolve_params({"engine": "classical"})
    for i in range(2):
        plate = got["plate"][i].transpose(1, 2, 0)
        clean = got["clean_plate"][i].transpose(1, 2, 0)
        want = classical.run_halved(plate, clean, params).alpha
        np.testing.assert_array_equal(got["segmentation"][i, 0], want)
        assert not np.array_equal(want, whole["segmentation"][i, 0])


def test_parallax_moves_a_near_layer_of_the_clean_plate_only() -> None:
    still = {k: 0.0 for k in ("noise", "exposure", "white_balance", "misalign", "shadow")}
    flat = CompositeSampler(None, augment=still, seed=5).sample(0, 4, SIZE)
    moved = CompositeSampler(None, augment={**still, "parallax": 1.0}, seed=5).sample(0, 4, SIZE)
    np.testing.assert_array_equal(flat["plate"], moved["plate"])
    np.testing.assert_allclose(flat["clean_plate"], flat["background"], atol=1e-6)
    changed = np.abs(moved["clean_plate"] - flat["clean_plate"]).max(axis=1) > 1e-3
    fraction = changed.mean(axis=(1, 2))
    assert (fraction > 0.01).all() and (fraction < 0.9).all()  # a layer, not the whole frame


def _share_above_one(hdr_fraction: float) -> float:
    off = {"shadow": 0.0, "similar_colour": 0.0, "defocus": 0.0, "bundle_background": 1.0}
    sampler = CompositeSampler(None, {**off, "hdr_fraction": hdr_fraction}, seed=4)
    yy, xx = np.mgrid[:160, :200].astype(np.float32)
    ramp = np.exp(np.sin(yy / 17.0) + np.cos(xx / 23.0) * 2.0)  # a smooth HDR scene, e^-3..e^3
    sampler.backgrounds = [np.stack([ramp, 0.8 * ramp, 0.6 * ramp])]
    bg = sampler.sample(step=0, batch=24, size=SIZE)["background"]
    return float((bg.max(axis=1) > 1.0).mean())


def test_hdr_fraction_sets_the_share_of_background_above_one() -> None:
    """Bundle crops are exposed so that 0 to ``hdr_fraction`` of the canvas exceeds 1.0: on
    average about half of it (the crop inside the canvas varies around that)."""
    default, bright = _share_above_one(0.2), _share_above_one(0.6)
    assert 0.05 < default < 0.15
    assert 0.2 < bright < 0.4
